// One echo server per process, for bench/echo.ts: `tether` (the reference app's /ws/echo),
// `ws` (a raw ws server) or `fastify-websocket` (a plain @fastify/websocket route). All three use
// the same certificate and TLS policy; the port is printed on stdout as `port=N`.
import { createServer } from 'node:https'
import websocket from '@fastify/websocket'
import Fastify, { type FastifyInstance } from 'fastify'
import { WebSocketServer } from 'ws'
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'
import { secureServerOptions } from 'fastify-tether'

const [stack, certPem, keyPem] = [process.argv[2], process.env['BENCH_CERT'], process.env['BENCH_KEY']]
if (certPem === undefined || keyPem === undefined) throw new Error('BENCH_CERT and BENCH_KEY must hold PEM')
const tls = secureServerOptions({ cert: certPem, key: keyPem }, 10_000)

async function listen (): Promise<number> {
  if (stack === 'tether') {
    // The load is 16 messages in flight per connection, far over the default 50/s per connection:
    // the message rate limit is off here, as it would be for a trusted high-rate client.
    const app = await buildApp({ config: { ...loadConfig({ WS_RATE_PER_SEC: '0' }), logLevel: 'warn' }, certificate: { cert: certPem!, key: keyPem! } })
    await app.listen({ host: '127.0.0.1', port: 0 })
    return portOf(app)
  }
  if (stack === 'fastify-websocket') {
    const app = Fastify({ https: tls, logger: false }) as unknown as FastifyInstance
    await app.register(websocket, { options: { maxPayload: 65_536 } })
    app.get('/ws/echo', { websocket: true }, (socket) => {
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }))
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    return portOf(app)
  }
  if (stack === 'ws') {
    const server = createServer(tls)
    const wss = new WebSocketServer({ server, maxPayload: 65_536 })
    wss.on('connection', (socket) => {
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    return typeof address === 'object' && address !== null ? address.port : 0
  }
  throw new Error(`unknown stack ${stack ?? ''}`)
}

function portOf (app: FastifyInstance): number {
  const address = app.server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}

// Exit normally on SIGTERM so that --cpu-prof (BENCH_SERVER_NODE_ARGS) can write its profile.
process.once('SIGTERM', () => process.exit(0))
process.stdout.write(`port=${await listen()}\n`)
