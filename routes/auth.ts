import { Type, type Static } from '@sinclair/typebox'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import { ConfigError } from 'fastify-tether'

const DevTokenBody = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' }),
  mfa: Type.Optional(Type.Boolean()),
  scope: Type.Optional(Type.String({ maxLength: 256 })),
  rooms: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64 })),
  expiresIn: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'seconds; default 900' }))
}, { additionalProperties: false })

/**
 * POST /auth/dev-token: only with DEV_TOKENS=on (never in production), mints a token for any
 * identity, unauthenticated, for the demo and local testing. Without it the route does not exist (404).
 * (POST /auth/ticket, which trades a token for a single-use ticket, is the library's `ticketPath`.)
 */
export default async function auth (app: FastifyInstance): Promise<void> {
  if (!app.config.devTokens) return // the route does not exist: 404
  // loadConfig refuses this pair already; a config built in code must not get round it.
  if (app.config.production) throw new ConfigError('DEV_TOKENS=on is refused when NODE_ENV=production: dev tokens let anyone mint any identity')
  app.log.warn({ route: 'POST /auth/dev-token' }, 'DEV_TOKENS=on: POST /auth/dev-token mints a token for ANY identity, unauthenticated; never enable this outside local development')

  const sign = createSigner({ key: app.config.jwtSecret, algorithm: 'HS256' })
  // Unauthenticated, so limited per client IP only (API_RATE_PER_MIN): 429 rate_limited.
  const limit = app.tether.rateLimit('dev-token')
  app.post<{ Body: Static<typeof DevTokenBody> }>('/auth/dev-token', { schema: { body: DevTokenBody }, onRequest: limit.byAddress }, async (request) => {
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
