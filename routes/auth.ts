import { Type, type Static } from '@sinclair/typebox'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'

const DevTokenBody = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' }),
  mfa: Type.Optional(Type.Boolean()),
  scope: Type.Optional(Type.String({ maxLength: 256 })),
  rooms: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64 })),
  expiresIn: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'seconds; default 900' }))
}, { additionalProperties: false })

/**
 * POST /auth/dev-token: outside production only, mints a token for the demo and local testing.
 * (POST /auth/ticket, which trades a token for a single-use ticket, is the library's `ticketPath`.)
 */
export default async function auth (app: FastifyInstance): Promise<void> {
  if (app.config.production) return // the route does not exist in production: 404

  const sign = createSigner({ key: app.config.jwtSecret, algorithm: 'HS256' })
  app.post<{ Body: Static<typeof DevTokenBody> }>('/auth/dev-token', { schema: { body: DevTokenBody } }, async (request) => {
    const { sub, mfa = false, scope, rooms, expiresIn = 900 } = request.body
    const now = Math.floor(Date.now() / 1000)
    const token = sign({
      sub,
      iat: now,
      exp: now + expiresIn,
      amr: mfa ? ['pwd', 'mfa'] : ['pwd'],
      ...(scope === undefined ? {} : { scope }),
      ...(rooms === undefined ? {} : { rooms })
    })
    return { token }
  })
}
