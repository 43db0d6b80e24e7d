import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { jwtAuth, tetherPlugin } from 'fastify-tether'
import { RedisBackplane } from 'fastify-tether/redis'
import { ReferenceClaims } from '../server/claims.js'

/**
 * Registers the framework with the settings read from the environment: HS256 tokens signed with
 * JWT_SECRET whose claims match `ReferenceClaims` (lifetime capped by MAX_TOKEN_LIFETIME_S), tickets at POST /auth/ticket, and with REDIS_URL a hub that reaches every instance
 * through Redis pub/sub (otherwise in-process).
 */
export default fp(async function tether (app: FastifyInstance) {
  const { tether, allowedOrigins, jwtSecret, compression, redisUrl, pressure } = app.config
  await app.register(tetherPlugin, {
    ...tether,
    auth: jwtAuth({ secret: jwtSecret }),
    // Every token's claims must match these (sub, exp, amr, scope, rooms, ...), whatever their source.
    claims: ReferenceClaims,
    ticketPath: '/auth/ticket',
    compression,
    pressure,
    ...(allowedOrigins === undefined ? {} : { allowedOrigins }),
    ...(redisUrl === undefined ? {} : { backplane: new RedisBackplane({ url: redisUrl, log: app.log }) })
  })
}, { name: 'tether' })
