import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { createVerifier, type Algorithm, type DecodedJwt } from 'fast-jwt'
import type { GetJwks } from 'get-jwks'
import { ConfigError, InvalidTokenError } from '../errors.js'
import { bearerToken } from './bearer.js'
import type { AuthScheme } from './scheme.js'

/** The asymmetric algorithms a public key or a JWKS may verify with. */
export type PublicKeyAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA'

/** What every JWT bearer variant shares. */
interface JwtCommonOptions {
  /** Required `iss`; tokens from any other issuer, or without `iss`, are refused. */
  issuer?: string
  /** Required `aud` (one of them, when a list); tokens without `aud` are refused then too. */
  audience?: string | string[]
  /** Seconds of clock skew tolerated on `exp` and `nbf` by the signature check. Default 0. */
  clockToleranceS?: number
}

/** HS256 with a shared secret (at least 32 bytes are recommended: RFC 7518 section 3.2). */
export interface JwtSecretOptions extends JwtCommonOptions {
  /** The HMAC secret; tokens must be signed with HS256 and this secret. */
  secret: string | Buffer
}

/** An asymmetric public key (PEM, SPKI); the algorithms are pinned, by default from the key type. */
export interface JwtPublicKeyOptions extends JwtCommonOptions {
  /** The issuer's public key, PEM (SPKI) or an X.509 certificate's. */
  publicKey: string | Buffer
  /**
   * The algorithms accepted; each must suit the key. Default: the key type's usual one (`RS256`
   * for RSA, `PS256` for RSA-PSS, `ES256`/`ES384`/`ES512` by curve, `EdDSA` for Ed25519/Ed448).
   */
  algorithms?: PublicKeyAlgorithm[]
}

/**
 * Keys from a JWKS URL, chosen by the token's `kid`, cached and refetched when a token names a
 * `kid` the cache lacks (key rotation). `issuer` is required, so a key set is never trusted for
 * tokens of another issuer.
 */
export interface JwtJwksOptions extends JwtCommonOptions {
  /**
   * The full URL of the key set, e.g. `https://id.example.com/.well-known/jwks.json` (path and
   * query are kept). It must be `https:`, except on a loopback host (`localhost`, `127.0.0.0/8`,
   * `[::1]`), where `http:` is accepted for a local identity provider or a test.
   */
  jwksUrl: string
  /** Required `iss`. */
  issuer: string
  /** The algorithms accepted. Default `RS256`, `ES256` and `EdDSA`; a token's must also suit its key. */
  algorithms?: PublicKeyAlgorithm[]
  /**
   * How long fetched keys are kept. Default 10 minutes. A key that left the set may keep
   * verifying for up to twice this long: get-jwks keeps expired keys as a fallback.
   */
  jwksCacheTtlMs?: number
  /** How long one fetch of the key set may take before the token is refused. Default 5 s. */
  jwksTimeoutMs?: number
  /**
   * Passed to `fetch()` for every fetch of the key set: headers, or an undici `dispatcher` (for
   * a proxy or a private CA; Node's `fetch()` has no `ca` option). Do not pass a `signal`: the
   * same options serve every fetch; `jwksTimeoutMs` bounds each one.
   */
  fetchOptions?: RequestInit
}

/** Options of {@link jwtAuth}: exactly one of `secret`, `publicKey` or `jwksUrl`. */
export type JwtAuthOptions = JwtSecretOptions | JwtPublicKeyOptions | JwtJwksOptions

const ASYMMETRIC: readonly PublicKeyAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

/** Every algorithm a public key can verify, from its type and curve: never `none`, never HMAC. */
function suitedAlgorithms (key: KeyObject): PublicKeyAlgorithm[] {
  switch (key.asymmetricKeyType) {
    case 'rsa': return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
    case 'rsa-pss': return ['PS256', 'PS384', 'PS512']
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve
      return curve === 'prime256v1' ? ['ES256'] : curve === 'secp384r1' ? ['ES384'] : curve === 'secp521r1' ? ['ES512'] : []
    }
    case 'ed25519': case 'ed448': return ['EdDSA']
    default: return []
  }
}

/** The algorithm a public key verifies with by default: the first suited one. */
function defaultAlgorithms (publicKey: string | Buffer): PublicKeyAlgorithm[] {
  let key: KeyObject
  try {
    key = createPublicKey(publicKey)
  } catch (cause) {
    throw new ConfigError(`jwtAuth: publicKey is not a PEM public key (${(cause as Error).message})`)
  }
  const first = suitedAlgorithms(key)[0]
  if (first === undefined) throw new ConfigError(`jwtAuth: unsupported public key type ${String(key.asymmetricKeyType)}`)
  return [first]
}

function checkAlgorithms (algorithms: readonly string[]): void {
  if (!Array.isArray(algorithms) || algorithms.length === 0) throw new ConfigError('jwtAuth: algorithms must list at least one algorithm')
  for (const algorithm of algorithms) {
    if (!ASYMMETRIC.includes(algorithm as PublicKeyAlgorithm)) throw new ConfigError(`jwtAuth: algorithms may only list ${ASYMMETRIC.join(', ')}, got ${algorithm}`)
  }
}

const isLoopback = (hostname: string): boolean =>
  hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname)

function jwksLocation (jwksUrl: unknown): URL {
  let url: URL
  try {
    url = new URL(String(jwksUrl))
  } catch {
    throw new ConfigError(`jwtAuth: jwksUrl "${String(jwksUrl)}" is not a URL`)
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw new ConfigError(`jwtAuth: jwksUrl must be https (http only on a loopback host), got ${url.protocol}//${url.host}`)
  }
  return url
}

/** Runs `createVerifier`, turning fast-jwt's option errors (a key that does not suit the algorithms) into a `ConfigError`. */
function verifierOf<T> (build: () => T): T {
  try {
    return build()
  } catch (cause) {
    throw new ConfigError(`jwtAuth: ${(cause as Error).message}`)
  }
}

/**
 * The key-fetching function of the JWKS variant: get-jwks fetches `jwksUrl` (its `domain` is the
 * URL's origin, its `jwksPath` the path and query), caches each JWK by `alg`, `kid` and origin, and
 * fetches the set again when a `kid` is not cached, which is how a rotated key is found without a
 * restart; a `kid` still missing refuses the token. JWKs are turned into PEM with node:crypto (so
 * Ed25519 `OKP` keys work too), and the token's `alg` must be one the key can verify.
 */
function jwksKeys (options: JwtJwksOptions, url: URL, algorithms: readonly PublicKeyAlgorithm[]): (decoded: DecodedJwt) => Promise<string> {
  // Loaded on first use: only this variant needs get-jwks, and importing it costs ~60 ms.
  let jwks: Promise<GetJwks> | undefined
  const keySet = (): Promise<GetJwks> => {
    jwks ??= import('get-jwks').then(({ default: buildGetJwks }) => buildGetJwks({
      max: 100,
      ttl: options.jwksCacheTtlMs ?? 600_000,
      jwksPath: url.pathname + url.search,
      ...(options.fetchOptions === undefined ? {} : { fetchOptions: options.fetchOptions as never })
    }))
    return jwks
  }
  const timeoutMs = options.jwksTimeoutMs ?? 5_000
  const pems = new WeakMap<object, { pem: string, algorithms: PublicKeyAlgorithm[] }>()
  const pemOf = (jwk: Record<string, unknown>): { pem: string, algorithms: PublicKeyAlgorithm[] } => {
    let known = pems.get(jwk)
    if (known === undefined) {
      if (jwk['use'] !== undefined && jwk['use'] !== 'sig') throw new InvalidTokenError('the token\'s key is not a signing key')
      const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
      known = { pem: key.export({ type: 'spki', format: 'pem' }).toString(), algorithms: suitedAlgorithms(key) }
      pems.set(jwk, known)
    }
    return known
  }
  return async (decoded) => {
    const { kid, alg } = decoded.header as { kid?: unknown, alg?: unknown }
    if (typeof alg !== 'string' || !algorithms.includes(alg as PublicKeyAlgorithm)) throw new InvalidTokenError('the token algorithm is not allowed')
    if (typeof kid !== 'string' || kid === '') throw new InvalidTokenError('the token names no key (kid)')
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new InvalidTokenError(`the key set at ${url.origin} did not answer within ${timeoutMs} ms`)), timeoutMs)
    })
    try {
      const jwk = await Promise.race([keySet().then((set) => set.getJwk({ domain: url.origin, kid, alg })), timeout])
      const { pem, algorithms: suited } = pemOf(jwk)
      if (!suited.includes(alg as PublicKeyAlgorithm)) throw new InvalidTokenError('the token algorithm does not suit its key')
      return pem
    } finally {
      clearTimeout(timer)
    }
  }
}

/**
 * The built-in JWT bearer scheme (fast-jwt, the verifier inside @fastify/jwt), with the algorithm
 * pinned so `alg: none`, algorithm confusion (an HS256 token "signed" with the public key) and
 * unexpected algorithms are refused, and `exp` required. Credentials: `Authorization: Bearer <jwt>`.
 * Every refusal is 401 `invalid_token`.
 *
 * - `jwtAuth({ secret })`: HS256 with a shared secret.
 * - `jwtAuth({ publicKey, algorithms? })`: RS256, ES256, EdDSA and the other asymmetric algorithms.
 * - `jwtAuth({ jwksUrl, issuer, audience? })`: keys from the issuer's JWKS (get-jwks), by `kid`,
 *   cached for `jwksCacheTtlMs`; an unknown `kid` fetches the set again (key rotation), a `kid`
 *   still unknown is refused. `jwksUrl` is https, or http on a loopback host.
 *
 * @example
 * ```ts
 * await app.register(tetherPlugin, { auth: jwtAuth({ jwksUrl: 'https://id.example.com/.well-known/jwks.json', issuer: 'https://id.example.com/', audience: 'chat' }) })
 * ```
 */
export function jwtAuth (options: JwtAuthOptions): AuthScheme {
  if (typeof options !== 'object' || options === null) throw new ConfigError('jwtAuth needs one of secret, publicKey or jwksUrl')
  const variants = (['secret', 'publicKey', 'jwksUrl'] as const).filter((name) => name in options)
  if (variants.length !== 1) throw new ConfigError(`jwtAuth needs exactly one of secret, publicKey or jwksUrl, got ${variants.length === 0 ? 'none' : variants.join(' and ')}`)
  const clockToleranceS = options.clockToleranceS ?? 0
  if (typeof clockToleranceS !== 'number' || !Number.isFinite(clockToleranceS) || clockToleranceS < 0) throw new ConfigError('jwtAuth: clockToleranceS must be a non-negative number')
  // fast-jwt checks iss and aud only when present: a configured issuer or audience must also be required.
  const common = {
    requiredClaims: ['exp', ...(options.issuer === undefined ? [] : ['iss']), ...(options.audience === undefined ? [] : ['aud'])],
    clockTolerance: clockToleranceS * 1000,
    ...(options.issuer === undefined ? {} : { allowedIss: options.issuer }),
    ...(options.audience === undefined ? {} : { allowedAud: options.audience })
  }
  let verify: (token: string) => unknown
  if ('secret' in options) {
    if ((typeof options.secret !== 'string' && !Buffer.isBuffer(options.secret)) || options.secret.length === 0) {
      throw new ConfigError('jwtAuth: secret must be a non-empty string or Buffer')
    }
    const secret = options.secret
    verify = verifierOf(() => createVerifier({ ...common, key: secret, algorithms: ['HS256' as Algorithm] }))
  } else if ('publicKey' in options) {
    const algorithms = options.algorithms ?? defaultAlgorithms(options.publicKey)
    checkAlgorithms(algorithms)
    const publicKey = options.publicKey
    verify = verifierOf(() => createVerifier({ ...common, key: publicKey, algorithms: algorithms as Algorithm[] }))
  } else {
    const url = jwksLocation(options.jwksUrl)
    if (typeof options.issuer !== 'string' || options.issuer === '') throw new ConfigError('jwtAuth: jwksUrl needs issuer')
    const algorithms = options.algorithms ?? ['RS256', 'ES256', 'EdDSA']
    checkAlgorithms(algorithms)
    const key = jwksKeys(options, url, algorithms)
    verify = verifierOf(() => createVerifier({ ...common, algorithms: algorithms as Algorithm[], key }))
  }
  const verifyToken = async (token: string): Promise<unknown> => {
    try {
      return await verify(token)
    } catch (cause) {
      throw new InvalidTokenError('the token is not valid', { cause })
    }
  }
  return {
    name: 'jwt',
    authenticate: (request) => {
      const token = bearerToken(request)
      return token === undefined ? null : verifyToken(token)
    },
    verifyToken
  }
}
