import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ForbiddenError, MissingTokenError, TetherError } from '../errors.js'
import type { ClaimsPolicy } from './claims.js'

/**
 * A preHandler for plain HTTP routes (not WebSockets) that need a bearer token: verifies it like
 * the WebSocket routes do (HS256 pinned, exp required), applies an optional claims policy, and
 * sets `request.user`; refusals are the framework's (401/403 with `{"error","message"}`, logged
 * and counted). Tickets are not accepted here: they exist only for WebSocket upgrades.
 */
export function bearerAuth (app: FastifyInstance, policy?: ClaimsPolicy): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (request, reply) => {
    const authenticator = app.tether.authenticator
    if (authenticator === undefined) throw new TypeError('bearerAuth needs the tether plugin\'s jwtSecret')
    try {
      const token = authenticator.bearerToken(request)
      if (token === undefined) throw new MissingTokenError()
      request.user = authenticator.verify(token)
    } catch (error) {
      if (!(error instanceof TetherError)) throw error
      return await app.tether.refuse(request, reply, error)
    }
    const verdict = policy?.(request.user) ?? true
    if (verdict !== true) return await app.tether.refuse(request, reply, new ForbiddenError(verdict))
  }
}
