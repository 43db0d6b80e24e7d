import type { FastifyInstance } from 'fastify'

/** GET /health: liveness for load balancers; 503 while the server is shutting down. */
export default async function health (app: FastifyInstance): Promise<void> {
  app.get('/health', async (_request, reply) => {
    if (app.tether.shuttingDown) return await reply.code(503).send({ status: 'shutting_down' })
    return { status: 'ok' }
  })
}
