import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { RedisBackplane, tetherPlugin } from '../src/index.js'

/**
 * Registers the framework with the settings read from the environment; with REDIS_URL the hub
 * reaches every instance through Redis pub/sub, otherwise it stays in-process.
 */
export default fp(async function tether (app: FastifyInstance) {
  const { tether, allowedOrigins, jwtSecret, compression, redisUrl } = app.config
  await app.register(tetherPlugin, {
    ...tether,
    jwtSecret,
    compression,
    ...(allowedOrigins === undefined ? {} : { allowedOrigins }),
    ...(redisUrl === undefined ? {} : { backplane: new RedisBackplane({ url: redisUrl, log: app.log }) })
  })
}, { name: 'tether' })
