import type { FastifyInstance, FastifyRequest } from 'fastify'

/**
 * An authentication scheme, as in ASP.NET Core: it turns a request's own credentials (a bearer
 * header, a cookie, an API key) into claims. The framework adds what every scheme shares: tickets
 * for browsers, claims type checks, expiry, `auth.refresh` and per-user caps. Built in:
 * `jwtAuth()` (HS256, a public key or a JWKS URL) and `fastifyJwtAuth()` (the host's @fastify/jwt);
 * a custom scheme is any object of this shape.
 */
export interface AuthScheme {
  /** A short name for logs (`jwt`, `fastify-jwt`, `session-cookie`). */
  readonly name: string
  /** Called once when the plugin is registered, e.g. to find the host's decorators. */
  setup?: (app: FastifyInstance) => void | Promise<void>
  /**
   * The claims of the request's credentials; null when it carries none (a ticket is then looked
   * for). Throw a `TetherError` (`InvalidTokenError`, `ForbiddenError`) to refuse the upgrade. The
   * result must have `sub` and a finite `exp` (for sessions: when the session ends).
   */
  authenticate: (request: FastifyRequest) => unknown
  /**
   * Verifies a bare token, for `{"type":"auth.refresh","token":"..."}` on an open connection.
   * Schemes without tokens leave it out, and a refresh is then refused with `invalid_token`.
   */
  verifyToken?: (token: string) => unknown
}
