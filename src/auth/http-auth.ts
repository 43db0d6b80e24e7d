import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ForbiddenError, TetherError } from '../errors.js'
import { setUser } from '../internal/request-user.js'
import type { ClaimsPolicy } from './claims.js'

/**
 * A preHandler for plain HTTP routes (not WebSockets) that need a user: authenticates with the
 * tether plugin's scheme (tickets are not accepted here: they exist only for upgrades), applies an
 * optional claims policy and sets `request.user`. Refusals are the framework's (401/403 with
 * `{"error","message"}`, logged and counted).
 */
export function httpAuth (app: FastifyInstance, policy?: ClaimsPolicy): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (request, reply) => {
    try {
      const claims = await app.tether.authenticate(request)
      setUser(request, claims)
      const verdict = policy?.(claims) ?? true
      if (verdict !== true) throw new ForbiddenError(verdict)
    } catch (error) {
      if (!(error instanceof TetherError)) throw error
      await app.tether.refuse(request, reply, error)
    }
  }
}
