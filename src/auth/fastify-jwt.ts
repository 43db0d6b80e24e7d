import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ConfigError, InvalidTokenError } from '../errors.js'
import { bearerToken } from './bearer.js'
import type { AuthScheme } from './scheme.js'

/** Options of {@link fastifyJwtAuth}. */
export interface FastifyJwtAuthOptions {
  /**
   * The @fastify/jwt namespace to verify with, when the host registered it with `namespace`:
   * tokens are then checked by `request[<namespace>JwtVerify]()` (or the plugin's `jwtVerify`
   * name) and `app.jwt[<namespace>].verify()`. Default: the un-namespaced registration.
   */
  namespace?: string
  /**
   * The request method the namespaced registration decorated, when the host renamed it with
   * @fastify/jwt's `jwtVerify` option. Default `<namespace>JwtVerify`, or `jwtVerify`.
   */
  jwtVerify?: string
}

/** The slice of @fastify/jwt's `app.jwt` (or `app.jwt[namespace]`) this scheme uses. */
interface JwtDecorator {
  verify: (token: string) => unknown
}

type RequestVerify = (this: FastifyRequest) => Promise<unknown>

/** fast-jwt's `complete: true` result; the claims are its `payload`. */
function payloadOf (verified: unknown): unknown {
  if (typeof verified === 'object' && verified !== null && 'header' in verified && 'payload' in verified) {
    return (verified as { payload: unknown }).payload
  }
  return verified
}

/**
 * Reuses the host's own @fastify/jwt, already registered (tether never registers it): the same
 * secret or keys, the same verify options (algorithms, issuer, audience, `trusted`) as the host's
 * HTTP routes. Credentials: `Authorization: Bearer <jwt>`; a request without that header is
 * looked at for a ticket instead. The upgrade is checked with `request.jwtVerify()` (so it also
 * sets @fastify/jwt's `request.user`, which tether then overwrites with the same claims); an
 * `auth.refresh` token with `app.jwt.verify(token)`, which needs a static secret or public key
 * (with a per-request secret function the refresh is refused). Any verification failure is 401
 * `invalid_token`.
 *
 * The host's rules stay the host's for its HTTP routes; tether additionally requires `sub` and
 * `exp`, whatever the host's `requiredClaims`, so a token without `exp` that a host route accepts
 * is refused on a WebSocket route. With @fastify/jwt's `formatUser`, the formatted user is what
 * tether sees: it must keep `sub` and `exp`.
 *
 * Register @fastify/jwt before tether, in the same or an enclosing scope: registration throws a
 * `ConfigError` when `app.jwt` (or the namespace) is missing.
 *
 * @example
 * ```ts
 * await app.register(fastifyJwt, { secret: process.env.JWT_SECRET })
 * await app.register(tetherPlugin, { auth: fastifyJwtAuth() })
 * ```
 */
export function fastifyJwtAuth (options: FastifyJwtAuthOptions = {}): AuthScheme {
  const { namespace } = options
  if (namespace !== undefined && (typeof namespace !== 'string' || namespace === '')) throw new ConfigError('fastifyJwtAuth: namespace must be a non-empty string')
  const verifyName = options.jwtVerify ?? (namespace === undefined ? 'jwtVerify' : `${namespace}JwtVerify`)
  const where = namespace === undefined ? '@fastify/jwt' : `@fastify/jwt with namespace "${namespace}"`
  let jwt: JwtDecorator | undefined

  const verifyToken = async (token: string): Promise<unknown> => {
    if (jwt === undefined) throw new ConfigError('fastifyJwtAuth: the scheme was used before the tether plugin was registered')
    try {
      return payloadOf(await jwt.verify(token))
    } catch (cause) {
      throw new InvalidTokenError('the token is not valid', { cause })
    }
  }

  return {
    name: 'fastify-jwt',
    setup (app: FastifyInstance) {
      if (!app.hasDecorator('jwt')) {
        throw new ConfigError('fastifyJwtAuth() needs the host\'s @fastify/jwt: register @fastify/jwt before the tether plugin, or use jwtAuth({ secret | publicKey | jwksUrl })')
      }
      const root = (app as unknown as { jwt: unknown }).jwt
      const decorator = namespace === undefined ? root : (root as Record<string, unknown> | null)?.[namespace]
      if (typeof (decorator as Partial<JwtDecorator> | undefined)?.verify !== 'function') {
        throw new ConfigError(`fastifyJwtAuth: ${where} is not registered (app.jwt${namespace === undefined ? '' : `.${namespace}`}.verify is missing)`)
      }
      if (!app.hasRequestDecorator(verifyName)) {
        throw new ConfigError(`fastifyJwtAuth: ${where} decorated no request.${verifyName}(); pass the name it uses as jwtVerify`)
      }
      jwt = decorator as JwtDecorator
    },
    async authenticate (request: FastifyRequest) {
      // bearerToken refuses a malformed header and two Authorization headers before the host looks.
      if (bearerToken(request) === undefined) return null
      const verify = (request as unknown as Record<string, unknown>)[verifyName] as RequestVerify | undefined
      if (typeof verify !== 'function') throw new ConfigError(`fastifyJwtAuth: request.${verifyName}() is missing`)
      try {
        return payloadOf(await verify.call(request))
      } catch (cause) {
        throw new InvalidTokenError('the token is not valid', { cause })
      }
    },
    verifyToken
  }
}
