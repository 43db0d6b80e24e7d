import { createPublicKey } from 'node:crypto'
import { createVerifier, type Algorithm, type DecodedJwt } from 'fast-jwt'
import buildGetJwks from 'get-jwks'
import { ConfigError, InvalidTokenError } from '../errors.js'
import { bearerToken } from './bearer.js'
import type { AuthScheme } from './scheme.js'

/** The asymmetric algorithms a public key or a JWKS may verify with. */
export type PublicKeyAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA'

/** What every JWT bearer variant shares. */
interface JwtCommonOptions {
  /** Required `iss`; tokens from any other issuer are refused. */
  issuer?: string
  /** Required `aud` (one of them, when a list). */
  audience?: string | string[]
  /** Seconds of clock skew tolerated on `exp` and `nbf`. Default 0. */
  clockToleranceS?: number
}

/** HS256 with a shared secret (at least 32 bytes are recommended: RFC 7518 section 3.2). */
export interface JwtSecretOptions extends JwtCommonOptions {
  secret: string | Buffer
}

/** An asymmetric public key (PEM, SPKI); the algorithms are pinned, by default from the key type. */
export interface JwtPublicKeyOptions extends JwtCommonOptions {
  publicKey: string | Buffer
  algorithms?: PublicKeyAlgorithm[]
}

/**
 * Keys from a JWKS URL, chosen by the token's `kid`, cached and refetched when a token names a
 * `kid` the cache lacks (key rotation). `issuer` is required, so a key set is never trusted for
 * tokens of another issuer.
 */
export interface JwtJwksOptions extends JwtCommonOptions {
  jwksUrl: string
  issuer: string
  algorithms?: PublicKeyAlgorithm[]
  /** How long fetched keys are kept. Default 10 minutes. */
  jwksCacheTtlMs?: number
  /** Passed to `fetch()` for the key set (e.g. a `dispatcher` trusting a private CA). */
  fetchOptions?: RequestInit
}

/** Options of {@link jwtAuth}: exactly one of `secret`, `publicKey` or `jwksUrl`. */
export type JwtAuthOptions = JwtSecretOptions | JwtPublicKeyOptions | JwtJwksOptions

const ASYMMETRIC: readonly PublicKeyAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

/** The algorithms a public key can verify, from its type: never `none`, never HMAC. */
function algorithmsOf (publicKey: string | Buffer): PublicKeyAlgorithm[] {
  const key = createPublicKey(publicKey)
  switch (key.asymmetricKeyType) {
    case 'rsa': return ['RS256']
    case 'rsa-pss': return ['PS256']
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve
      return curve === 'secp384r1' ? ['ES384'] : curve === 'secp521r1' ? ['ES512'] : ['ES256']
    }
    case 'ed25519': return ['EdDSA']
    default: throw new ConfigError(`jwtAuth: unsupported public key type ${String(key.asymmetricKeyType)}`)
  }
}

function checkAlgorithms (algorithms: readonly string[]): void {
  for (const algorithm of algorithms) {
    if (!ASYMMETRIC.includes(algorithm as PublicKeyAlgorithm)) throw new ConfigError(`jwtAuth: algorithms may only list ${ASYMMETRIC.join(', ')}, got ${algorithm}`)
  }
}

/**
 * The built-in JWT bearer scheme (fast-jwt, the verifier inside @fastify/jwt), with the algorithm
 * pinned so `alg: none`, algorithm confusion and unexpected algorithms are refused, and `exp`
 * required. Credentials: `Authorization: Bearer <jwt>`.
 *
 * - `jwtAuth({ secret })`: HS256 with a shared secret.
 * - `jwtAuth({ publicKey, algorithms? })`: RS256, ES256, EdDSA and the other asymmetric algorithms.
 * - `jwtAuth({ jwksUrl, issuer, audience? })`: keys from the issuer's JWKS (get-jwks), by `kid`.
 */
export function jwtAuth (options: JwtAuthOptions): AuthScheme {
  const common = {
    requiredClaims: ['exp'],
    clockTolerance: (options.clockToleranceS ?? 0) * 1000,
    ...(options.issuer === undefined ? {} : { allowedIss: options.issuer }),
    ...(options.audience === undefined ? {} : { allowedAud: options.audience })
  }
  let verify: (token: string) => unknown
  if ('secret' in options) {
    if ((typeof options.secret !== 'string' && !Buffer.isBuffer(options.secret)) || options.secret.length === 0) {
      throw new ConfigError('jwtAuth: secret must be a non-empty string or Buffer')
    }
    verify = createVerifier({ ...common, key: options.secret, algorithms: ['HS256' as Algorithm] })
  } else if ('publicKey' in options) {
    const algorithms = options.algorithms ?? algorithmsOf(options.publicKey)
    checkAlgorithms(algorithms)
    verify = createVerifier({ ...common, key: options.publicKey, algorithms: algorithms as Algorithm[] })
  } else if ('jwksUrl' in options) {
    let url: URL
    try {
      url = new URL(options.jwksUrl)
    } catch {
      throw new ConfigError(`jwtAuth: jwksUrl "${options.jwksUrl}" is not a URL`)
    }
    if (typeof options.issuer !== 'string' || options.issuer === '') throw new ConfigError('jwtAuth: jwksUrl needs issuer')
    const algorithms = options.algorithms ?? ['RS256', 'ES256', 'EdDSA']
    checkAlgorithms(algorithms)
    const jwks = buildGetJwks({
      max: 100,
      ttl: options.jwksCacheTtlMs ?? 600_000,
      jwksPath: url.pathname + url.search,
      ...(options.fetchOptions === undefined ? {} : { fetchOptions: options.fetchOptions as never })
    })
    verify = createVerifier({
      ...common,
      algorithms: algorithms as Algorithm[],
      key: async (decoded: DecodedJwt) => {
        const { kid, alg } = decoded.header as { kid?: unknown, alg?: unknown }
        if (typeof kid !== 'string' || typeof alg !== 'string') throw new InvalidTokenError('the token names no key (kid)')
        return await jwks.getPublicKey({ domain: url.origin, kid, alg })
      }
    })
  } else {
    throw new ConfigError('jwtAuth needs one of secret, publicKey or jwksUrl')
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
