// A consumer service, compiled and run against the packed tarball by pack-install.test.ts: the
// host registers its own plugins first, then fastify-tether, as the README tells a service to.
import { once } from 'node:events'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import websocket from '@fastify/websocket'
import rateLimit from '@fastify/rate-limit'
import helmet from '@fastify/helmet'
import { Type } from '@sinclair/typebox'
import { ConnectionGroup, jwtAuth, secureServerOptions, tetherPlugin, type GroupMember, type ServerCertificate } from 'fastify-tether'

/** The issuer the host's own @fastify/jwt requires; tether's `jwtAuth` has no such rule. */
export const HOST_ISSUER = 'consumer-service'

/** A background service that writes `{"type":"tick","seq":N}` to every attached connection. */
export class TickService {
  readonly #group = new ConnectionGroup()
  #timer: NodeJS.Timeout | undefined
  #seq = 0

  start (intervalMs: number): void {
    this.#timer ??= setInterval(() => { this.#group.broadcast({ type: 'tick', seq: ++this.#seq }) }, intervalMs)
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#group.close()
  }

  /** Settles when the connection closes or the service stops. */
  attach (connection: GroupMember): Promise<void> {
    return this.#group.attach(connection)
  }
}

export interface ServiceOptions {
  certificate: ServerCertificate
  secret: string
  tickMs?: number
}

export async function buildService (options: ServiceOptions): Promise<FastifyInstance> {
  const app = Fastify({
    https: secureServerOptions(options.certificate, 10_000)
  }) as unknown as FastifyInstance // plugins are typed against the default instance; the server is HTTPS

  await app.register(fastifyJwt, { secret: options.secret, sign: { iss: HOST_ISSUER }, verify: { allowedIss: HOST_ISSUER, requiredClaims: ['iss'] } })
  await app.register(websocket)
  app.get('/legacy', { websocket: true }, (socket) => {
    socket.on('message', (data) => { socket.send(`legacy:${String(data)}`) })
  })
  await app.register(rateLimit, { max: 1000, timeWindow: 60_000 })
  await app.register(helmet)

  const hostAuth = async (request: FastifyRequest): Promise<void> => { await request.jwtVerify() }
  app.get('/api/me', { onRequest: hostAuth }, async (request) => ({ user: request.user }))
  app.post<{ Params: { topic: string } }>('/api/publish/:topic', { onRequest: hostAuth }, async (request) => {
    return { delivered: app.hub.publish(`news:${request.params.topic}`, { type: 'news', topic: request.params.topic }) }
  })

  const ticks = new TickService()
  app.addHook('onReady', async () => { ticks.start(options.tickMs ?? 50) })
  app.addHook('onClose', async () => { ticks.stop() })

  await app.register(tetherPlugin, { auth: jwtAuth({ secret: options.secret }) })

  app.ws('/ws/echo', { auth: false }, async (connection) => {
    for await (const message of connection.messages()) await connection.send(message)
  })
  app.ws('/ws/ticks', async (connection) => {
    await connection.send(JSON.stringify({ type: 'hello', sub: connection.user.sub }))
    await ticks.attach(connection)
  })
  app.ws('/ws/news/:topic', {
    schema: { params: Type.Object({ topic: Type.String({ pattern: '^[a-z]{1,32}$' }) }) }
  }, async (connection) => {
    connection.subscribe(`news:${connection.request.params.topic}`)
    await connection.send(JSON.stringify({ type: 'subscribed' }))
    // Held open, while the hub writes to it, until the client leaves.
    if (!connection.signal.aborted) await once(connection.signal, 'abort')
  })
  return app
}
