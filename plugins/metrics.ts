import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { TetherMetrics } from 'fastify-tether/metrics'

/** The reference server's metrics, when METRICS_TOKEN or METRICS_PORT turned them on. */
export interface ReferenceMetrics extends TetherMetrics {
  /** The loopback listener (METRICS_PORT), once it listens; undefined when `/metrics` is on the main port. */
  readonly listener: Server | undefined
  /** `http://127.0.0.1:<port>/metrics` of the loopback listener, once it listens. */
  readonly url: string | undefined
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The Prometheus series (fastify-tether/metrics, prom-client); undefined when metrics are off. */
    metrics: ReferenceMetrics | undefined
  }
}

/** Loopback only: the METRICS_PORT listener is for a Prometheus (or an agent) on this host. */
const METRICS_HOST = '127.0.0.1'

/**
 * `GET /metrics` in Prometheus text format, never open by default (README "Operating"):
 * - METRICS_TOKEN alone: on the server's own TLS port, behind `Authorization: Bearer <token>`;
 * - METRICS_PORT: on a separate plain HTTP listener on 127.0.0.1 only (behind the token too when
 *   METRICS_TOKEN is set), and not on the main port;
 * - neither: no route, no listener, prom-client never loaded.
 * The series are tether's (`tether_*`) and prom-client's default process metrics, in a registry
 * of this app's own.
 */
export default fp(async function metrics (app: FastifyInstance) {
  const { metricsToken, metricsPort } = app.config
  if (metricsToken === undefined && metricsPort === undefined) {
    app.decorate('metrics', undefined)
    return
  }
  const [{ Registry }, { tetherMetrics }] = await Promise.all([import('prom-client'), import('fastify-tether/metrics')])
  const registry = new Registry()
  const series = tetherMetrics(app, { registry, defaultMetrics: true })
  const authorized = metricsToken === undefined ? () => true : bearerMatcher(metricsToken)
  let listener: Server | undefined

  if (metricsPort === undefined) {
    app.get('/metrics', { logLevel: 'warn', config: { rateLimit: false } }, async (request, reply) => {
      if (!authorized(request.headers.authorization)) {
        return await reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').send({ error: 'unauthorized', message: 'a valid bearer token is required' })
      }
      return await reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(await registry.metrics())
    })
  } else {
    listener = createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (request, response) => {
      serveLoopback(request, response, authorized, registry).catch((error: unknown) => {
        app.log.error({ err: error }, 'metrics: scrape failed')
        if (!response.headersSent) response.writeHead(500)
        response.end()
      })
    })
    const server = listener
    app.addHook('onReady', async () => {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(metricsPort, METRICS_HOST, () => {
          server.off('error', reject)
          resolve()
        })
      })
      app.log.info({ url: urlOf(server) }, 'metrics: serving /metrics on loopback')
    })
    app.addHook('onClose', async () => {
      if (!server.listening) return
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    })
  }
  app.decorate('metrics', {
    registry: series.registry,
    observeCertificate: series.observeCertificate,
    close: series.close,
    listener,
    get url () { return listener === undefined ? undefined : urlOf(listener) }
  } satisfies ReferenceMetrics)
}, { name: 'metrics', dependencies: ['tether'] })

async function serveLoopback (request: IncomingMessage, response: ServerResponse, authorized: (header: string | undefined) => boolean, registry: TetherMetrics['registry']): Promise<void> {
  const path = (request.url ?? '/').split('?')[0]
  if (request.method !== 'GET' || path !== '/metrics') {
    response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}')
    return
  }
  if (!authorized(request.headers.authorization)) {
    response.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="metrics"' }).end('{"error":"unauthorized"}')
    return
  }
  const body = await registry.metrics()
  response.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(body)
}

/**
 * Whether an Authorization header carries the token, compared in constant time: both sides are
 * hashed first, so neither the length nor the first differing byte shows in the timing.
 */
function bearerMatcher (token: string): (header: string | undefined) => boolean {
  const expected = createHash('sha256').update(token).digest()
  return (header) => {
    const match = /^Bearer +(\S+)\s*$/i.exec(header ?? '')
    const presented = createHash('sha256').update(match?.[1] ?? '').digest()
    return timingSafeEqual(presented, expected) && match !== null
  }
}

function urlOf (server: Server): string | undefined {
  const address = server.address() as AddressInfo | null
  return address === null ? undefined : `http://${METRICS_HOST}:${address.port}/metrics`
}
