import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { tetherPlugin } from '../src/index.js'

/** Registers the framework with the settings read from the environment. */
export default fp(async function tether (app: FastifyInstance) {
  const { tether, allowedOrigins, jwtSecret, compression } = app.config
  await app.register(tetherPlugin, { ...tether, jwtSecret, compression, ...(allowedOrigins === undefined ? {} : { allowedOrigins }) })
}, { name: 'tether' })
