import type { FastifyInstance, RouteShorthandOptions } from 'fastify'

/**
 * Probes are cheap, unauthenticated, outside every rate limit, and logged only when something is
 * wrong (`logLevel: 'warn'`): a load balancer asking every second must not fill the log.
 */
const PROBE: RouteShorthandOptions = { logLevel: 'warn', config: { rateLimit: false } }

/**
 * GET /health: liveness (the process answers); 503 while the server is shutting down.
 * GET /ready: readiness (send new traffic here?): 503 `{"status":"not_ready","reasons":[...]}`
 * while starting, while draining, and with READY_REQUIRES_BACKPLANE=on while Redis is unreachable;
 * 200 `{"status":"ready"}` otherwise.
 */
export default async function health (app: FastifyInstance): Promise<void> {
  app.get('/health', PROBE, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    if (app.tether.shuttingDown) return await reply.code(503).send({ status: 'shutting_down' })
    return { status: 'ok' }
  })
  const requireBackplane = app.config.readyRequiresBackplane
  app.get('/ready', PROBE, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    const readiness = app.tether.readiness({ requireBackplane })
    if (readiness.ready) return { status: 'ready' }
    return await reply.code(503).send({ status: 'not_ready', reasons: readiness.reasons })
  })
}
