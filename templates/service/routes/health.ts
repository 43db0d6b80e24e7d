import type { FastifyInstance } from 'fastify'

/** GET /health: 200 `{"status":"ok"}`, 503 while the server drains. */
export default async function health (app: FastifyInstance): Promise<void> {
  app.get('/health', { logLevel: 'warn' }, async (_request, reply) => {
    if (app.tether.shuttingDown) return await reply.code(503).send({ status: 'shutting_down' })
    return { status: 'ok' }
  })
}
