import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { request } from 'node:https'
import fastifyHelmet from '@fastify/helmet'
import fastifyJwt from '@fastify/jwt'
import fastifyRateLimit from '@fastify/rate-limit'
import fastifyWebsocket from '@fastify/websocket'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { jwtAuth, secureServerOptions, tetherPlugin, type TetherOptions, type WsRouteOptions } from 'fastify-tether'
import { LogCapture, listen, testCertificates, withTimeout, type TestContext, type TestServer } from 'fastify-tether/testing'

/** How the host app is put together. */
export interface HostOptions {
  /** Whether the host registers @fastify/websocket itself (maxPayload 1024) before tether. Default true. */
  hostWebsocket?: boolean
  /** tether's options besides `auth`. */
  tether?: Omit<TetherOptions, 'auth'>
  /** Options of the tether echo route `/ws/echo` (it is `auth: true`). */
  echoRoute?: Pick<WsRouteOptions, 'config'>
}

/** A running host app with tether inside it, and what the tests need to talk to it. */
export interface Host extends TestServer {
  /** The host's own @fastify/jwt secret (not tether's). */
  hostSecret: string
}

/** The host's own payload limit, on its @fastify/websocket. */
export const HOST_MAX_PAYLOAD = 1024

/**
 * A host app as one would find it before adopting tether: @fastify/jwt with its own secret (no
 * required claims), @fastify/websocket with its own `websocket: true` route, a global
 * @fastify/rate-limit of 3 requests a minute and @fastify/helmet; then tether with `jwtAuth` and a
 * tether echo route. Without `hostWebsocket`, tether registers @fastify/websocket itself and the
 * host's /legacy route is declared after it.
 */
export async function buildHost (t: TestContext, options: HostOptions = {}): Promise<Host> {
  const { hostWebsocket = true } = options
  const certificates = await testCertificates()
  const logs = new LogCapture()
  const hostSecret = randomBytes(32).toString('base64url')
  const secret = randomBytes(32).toString('base64url')
  const app = Fastify({
    https: secureServerOptions({ cert: certificates.cert, key: certificates.key }, 10_000),
    logger: { level: 'info', stream: logs.stream }
  } as FastifyServerOptions) as unknown as FastifyInstance

  await app.register(fastifyJwt, { secret: hostSecret })
  if (hostWebsocket) await app.register(fastifyWebsocket, { options: { maxPayload: HOST_MAX_PAYLOAD } })
  await app.register(fastifyRateLimit, { max: 3, timeWindow: 60_000 })
  await app.register(fastifyHelmet)
  app.get('/host/me', { onRequest: async (request) => { await request.jwtVerify() } }, async (request) => ({ user: request.user }))
  if (hostWebsocket) legacyRoute(app)

  await app.register(tetherPlugin, { auth: jwtAuth({ secret }), ...options.tether })
  if (!hostWebsocket) legacyRoute(app)
  await app.register(async (scope) => {
    scope.ws('/ws/echo', { ...options.echoRoute }, async (connection) => {
      for await (const message of connection.messages()) await connection.send(message)
    })
  })
  const server = await listen(t, app, { ca: certificates.ca, secret, logs })
  return { ...server, hostSecret }
}

/** The host's own @fastify/websocket echo route. */
function legacyRoute (app: FastifyInstance): void {
  app.get('/legacy', { websocket: true }, (socket) => {
    socket.on('message', (data, isBinary) => { socket.send(data, { binary: isBinary }) })
  })
}

/** A plain HTTPS answer. */
export interface HttpAnswer {
  status: number
  headers: IncomingMessage['headers']
  text: string
}

/** A plain HTTPS GET to the host, trusting the test CA, bounded by the kit's wait. */
export async function get (host: Host, path: string, headers: Record<string, string | string[]> = {}): Promise<HttpAnswer> {
  return await withTimeout(new Promise<HttpAnswer>((resolve, reject) => {
    request(`${host.url}${path}`, { ca: host.ca, headers }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { text += chunk })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }))
      response.on('error', reject)
    }).on('error', reject).end()
  }), `for GET ${path}`)
}
