// One fan-out server per process, for bench/fanout.ts. Every stack keeps its WebSocket clients in
// one topic (or room) and answers two plain HTTP requests:
//   GET  /bench/subscribers                      -> {"subscribers":N}
//   POST /bench/publish?count=N&pacing=tick|turn -> publishes N messages of 128 bytes, then
//        {"subscribers":N}. `tick`: all N in one synchronous loop (one event-loop tick); `turn`:
//        one per event-loop turn (setImmediate).
// Stacks: `tether` (the reference app from buildApp, a public route that subscribes to the hub),
// `tether-tcp` (the same route on a plain-HTTP Fastify app with the tether plugin, as behind a
// TLS-terminating proxy), `ws` (a raw ws server, publish = a loop of ws.send per client),
// `ws-tcp` (the same over plain HTTP) and `socket.io` (websocket transport only, clients in one
// room, publish = io.to(room).emit). TLS stacks use the same certificate and TLS policy. The port
// is printed on stdout as `port=N`.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import Fastify, { type FastifyInstance } from 'fastify'
import { Server as SocketIoServer } from 'socket.io'
import { WebSocketServer, type WebSocket } from 'ws'
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'
import { loggerOptions } from '../../server/logging.js'
import { tetherPlugin } from 'fastify-tether'
import { secureServerOptions } from 'fastify-tether'

const [stack, certPem, keyPem] = [process.argv[2], process.env['BENCH_CERT'], process.env['BENCH_KEY']]
if (certPem === undefined || keyPem === undefined) throw new Error('BENCH_CERT and BENCH_KEY must hold PEM')
const tls = secureServerOptions({ cert: certPem, key: keyPem }, 10_000)

const TOPIC = 'bench'
const MESSAGE_BYTES = 128
const PAD = 'x'.repeat(MESSAGE_BYTES)

/** The i-th message: 128 ASCII bytes, distinct per publish, built at publish time on every stack. */
function message (i: number): string {
  const seq = String(i)
  return seq + PAD.slice(seq.length)
}

/**
 * Runs `count` publishes with the given pacing, the same for every stack. Resolves after the last
 * publish call has returned (the writes may still be leaving).
 */
function publishAll (count: number, pacing: string, publish: (text: string) => void): Promise<void> {
  if (pacing === 'tick') {
    for (let i = 0; i < count; i++) publish(message(i))
    return Promise.resolve()
  }
  if (pacing !== 'turn') return Promise.reject(new Error(`unknown pacing ${pacing}`))
  return new Promise((resolve) => {
    let i = 0
    const next = (): void => {
      if (i >= count) { resolve(); return }
      publish(message(i++))
      setImmediate(next)
    }
    next()
  })
}

interface Trigger { count: number, pacing: string }

function parseTrigger (url: string | undefined): Trigger {
  const query = new URL(url ?? '/', 'http://localhost').searchParams
  return { count: Number(query.get('count') ?? 200), pacing: query.get('pacing') ?? 'tick' }
}

/** The two bench routes for the servers without Fastify; anything else gets 404. */
function benchRequestHandler (subscribers: () => number, publish: (text: string) => void) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    const reply = (): void => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ subscribers: subscribers() }))
    }
    const path = request.url?.split('?')[0]
    if (request.method === 'GET' && path === '/bench/subscribers') {
      reply()
    } else if (request.method === 'POST' && path === '/bench/publish') {
      request.resume()
      const { count, pacing } = parseTrigger(request.url)
      publishAll(count, pacing, publish).then(reply, (error: Error) => response.writeHead(400).end(error.message))
    } else {
      response.writeHead(404).end()
    }
  }
}

/** The fan-out route and the bench routes, on any app with the tether plugin. */
async function tetherRoutes (app: FastifyInstance): Promise<void> {
  await app.register(async (scope) => {
    scope.ws('/bench/fanout', { auth: false }, async (connection) => {
      connection.subscribe(TOPIC)
      await connection.closed
    })
    scope.get('/bench/subscribers', async () => ({ subscribers: app.hub.subscriberCount(TOPIC) }))
    scope.post('/bench/publish', async (request) => {
      const { count, pacing } = parseTrigger(request.url)
      await publishAll(count, pacing, (text) => { app.hub.publish(TOPIC, text) })
      return { subscribers: app.hub.subscriberCount(TOPIC) }
    })
  })
}

// The same limits for both tether stacks: no message or handshake rate limit, room for 1,000
// connections from one IP, and a slow-consumer cut-off far above a 200-message burst (26 KB).
const config = {
  ...loadConfig({ WS_RATE_PER_SEC: '0', HANDSHAKE_RATE_PER_MIN: '0', WS_MAX_CONN_PER_IP: '100000', WS_MAX_BUFFERED: '67108864' }),
  logLevel: 'warn'
}

async function listen (): Promise<number> {
  if (stack === 'tether') {
    const app = await buildApp({ config, certificate: { cert: certPem!, key: keyPem! } })
    await tetherRoutes(app)
    await app.listen({ host: '127.0.0.1', port: 0 })
    return portOf(app.server)
  }
  if (stack === 'tether-tcp') {
    // buildApp always serves HTTPS; this is the same plugin and settings on plain HTTP.
    const app = Fastify({ logger: loggerOptions(config.logLevel) }) as unknown as FastifyInstance
    await app.register(tetherPlugin, { ...config.tether })
    await tetherRoutes(app)
    await app.listen({ host: '127.0.0.1', port: 0 })
    return portOf(app.server)
  }
  if (stack === 'ws' || stack === 'ws-tcp') {
    const clients = new Set<WebSocket>()
    // The naive loop: every send serializes, frames and writes the message again for each client.
    const handler = benchRequestHandler(() => clients.size, (text) => {
      for (const client of clients) client.send(text)
    })
    const server = stack === 'ws' ? createHttpsServer(tls, handler) : createHttpServer(handler)
    const wss = new WebSocketServer({ server, maxPayload: 65_536, clientTracking: false })
    wss.on('connection', (socket) => {
      clients.add(socket)
      socket.once('close', () => clients.delete(socket))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return portOf(server)
  }
  if (stack === 'socket.io') {
    // The bench routes first: engine.io keeps the server's existing request listeners for every
    // path but its own.
    const handler = benchRequestHandler(() => io.of('/').adapter.rooms.get(TOPIC)?.size ?? 0, (text) => {
      io.to(TOPIC).emit('m', text)
    })
    const server = createHttpsServer(tls, handler)
    const io = new SocketIoServer(server, { transports: ['websocket'], serveClient: false, maxHttpBufferSize: 65_536 })
    io.on('connection', async (socket) => { await socket.join(TOPIC) })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return portOf(server)
  }
  throw new Error(`unknown stack ${stack ?? ''}`)
}

function portOf (server: HttpServer | FastifyInstance['server']): number {
  const address = server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}

// Exit normally on SIGTERM so that --cpu-prof (BENCH_SERVER_NODE_ARGS) can write its profile.
process.once('SIGTERM', () => process.exit(0))
process.stdout.write(`port=${await listen()}\n`)
