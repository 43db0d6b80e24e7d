import { Type, type Static } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { bearerAuth, type TokenClaims } from '../src/index.js'

const DevTokenBody = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' }),
  mfa: Type.Optional(Type.Boolean()),
  scope: Type.Optional(Type.String({ maxLength: 256 })),
  rooms: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64 })),
  expiresIn: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'seconds; default 900' }))
}, { additionalProperties: false })

/**
 * POST /auth/ticket: exchanges a valid bearer token for a single-use ticket that lets a browser
 * (which cannot set headers on a WebSocket) authenticate the upgrade with `?ticket=`.
 * POST /auth/dev-token: outside production only, mints a token for the demo and local testing.
 */
export default async function auth (app: FastifyInstance): Promise<void> {
  const authenticator = app.tether.authenticator
  if (authenticator === undefined) return

  app.post('/auth/ticket', { preHandler: bearerAuth(app) }, async (request) => {
    return { ticket: authenticator.tickets.issue(request.user), expiresIn: authenticator.tickets.ttlSeconds }
  })

  if (app.config.production) return // the route does not exist in production: 404

  app.post<{ Body: Static<typeof DevTokenBody> }>('/auth/dev-token', { schema: { body: DevTokenBody } }, async (request) => {
    const { sub, mfa = false, scope, rooms, expiresIn = 900 } = request.body
    const token = app.jwt.sign({
      sub,
      amr: mfa ? ['pwd', 'mfa'] : ['pwd'],
      ...(scope === undefined ? {} : { scope }),
      ...(rooms === undefined ? {} : { rooms })
    } as TokenClaims, { expiresIn: expiresIn * 1000 })
    return { token }
  })
}
