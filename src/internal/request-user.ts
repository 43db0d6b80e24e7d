import type { FastifyRequest } from 'fastify'
import type { TokenClaims } from '../auth/claims.js'

/**
 * tether writes the verified claims to `request.user` without decorating it: a host's
 * @fastify/jwt decorates `user` itself (and throws if it is already there), so tether neither
 * decorates nor augments the property and reads and writes it through these two functions.
 */
export function setUser (request: FastifyRequest, claims: TokenClaims | null): void {
  (request as unknown as { user: TokenClaims | null }).user = claims
}

/** The claims tether set on the request; null on public routes, undefined before the checks ran. */
export function userOf (request: FastifyRequest): TokenClaims | null | undefined {
  return (request as unknown as { user?: TokenClaims | null }).user
}
