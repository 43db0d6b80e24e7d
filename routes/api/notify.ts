import { Type, type Static } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { httpAuth, requireScopes } from 'fastify-tether'

const Params = Type.Object({ user: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' }) })
const Body = Type.Object({ text: Type.String({ minLength: 1, maxLength: 2000 }) }, { additionalProperties: false })

/**
 * POST /api/notify/:user: push from outside a socket (ASP.NET Core's IHubContext pattern). A bearer
 * token whose `scope` contains `notify` may send `{"text":"..."}` to every /ws/feed connection of
 * `user`, on every instance; answers 202 once the message is handed to the hub. Limited to
 * API_RATE_PER_MIN requests a minute per client IP and per user.
 */
export default async function notify (app: FastifyInstance): Promise<void> {
  // API_RATE_PER_MIN per client IP (before authentication) and per user (after it): 429 rate_limited.
  const limit = app.tether.rateLimit('notify')
  app.post<{ Params: Static<typeof Params>, Body: Static<typeof Body> }>('/api/notify/:user', {
    schema: { params: Params, body: Body },
    onRequest: limit.byAddress,
    preHandler: [httpAuth(app, requireScopes('notify')), limit.byUser]
  }, async (request, reply) => {
    app.hub.publish(`user:${request.params.user}`, { type: 'notification', text: request.body.text, at: new Date().toISOString() })
    return await reply.code(202).send({ status: 'accepted' })
  })
}
