import type { AddressInfo } from 'node:net'
import { createSigner } from 'fast-jwt'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { WebSocket, type ClientOptions } from 'ws'
import { randomBytes } from 'node:crypto'
import type { TokenClaims } from '../auth/claims.js'
import { jwtAuth } from '../auth/jwt.js'
import { ticketProtocols, ticketQuery } from '../auth/ticket-transport.js'
import { tetherPlugin } from '../plugin.js'
import type { TetherOptions } from '../options.js'
import { secureServerOptions } from '../tls/server-options.js'
import { attemptRefused, TestClient, waitOpen, type Refusal } from './client.js'
import { testCertificates } from './certificates.js'
import { LogCapture } from './logs.js'
import { onTestEnd, WAIT_MS, type TestContext } from './waits.js'

/** How a test client connects. */
export interface ConnectOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string
  /** A ticket, presented in `Sec-WebSocket-Protocol` (default) or, with `ticketIn: 'query'`, in the URL. */
  ticket?: string
  ticketIn?: 'protocol' | 'query'
  /** Sent as the Origin header, as a browser would. */
  origin?: string
  /** Subprotocols to offer. */
  protocols?: string[]
  /** Other request headers. */
  headers?: Record<string, string>
  /** Anything else `ws` takes (`perMessageDeflate`, `maxPayload`). `ca` is always the test CA. */
  client?: Omit<ClientOptions, 'ca' | 'headers' | 'origin'>
  /** How long to wait for the socket to open. Default 5 s. */
  timeoutMs?: number
}

/** A listening app over real TLS on 127.0.0.1 and an ephemeral port, closed when the test ends. */
export interface TestServer {
  app: FastifyInstance
  port: number
  /** `https://localhost:<port>` */
  url: string
  /** `wss://localhost:<port>` */
  wsUrl: string
  /** PEM of the throwaway CA the clients trust. */
  ca: string
  /** The app's log lines (when the kit built the logger). */
  logs: LogCapture
  /** Signs an HS256 token with the test secret: `sub` plus any claims, for `expiresInS` (default 300). */
  sign: (claims: Partial<TokenClaims> & { sub: string }, expiresInS?: number) => string
  /** Issues a single-use ticket for `claims` (the plugin's `app.tether.issueTicket`). */
  ticket: (claims: TokenClaims) => string
  /** Opens a client to `path` (a full `wss://` URL also works); resolves once open. */
  connect: (path: string, options?: ConnectOptions) => Promise<TestClient>
  /** Attempts an upgrade that must be refused; resolves with its status and error code. */
  expectRefusal: (path: string, options?: ConnectOptions) => Promise<Refusal>
}

/** What {@link listen} needs besides the app. */
export interface ListenOptions {
  /** PEM of the CA behind the app's certificate. */
  ca: string
  /** The HS256 secret tokens are signed with, when the app verifies with it. */
  secret?: string
  /** The capture the app logs into, when the caller built the logger. */
  logs?: LogCapture
}

/** Starts an already-built HTTPS app on 127.0.0.1:0 and gives a test what it needs to talk to it. */
export async function listen (t: TestContext, app: FastifyInstance, options: ListenOptions): Promise<TestServer> {
  const { ca, secret } = options
  const open = new Set<WebSocket>()
  onTestEnd(t, async () => {
    for (const ws of open) ws.terminate()
    await app.close()
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const wsUrl = `wss://localhost:${port}`
  const signer = secret === undefined ? undefined : createSigner({ key: secret, algorithm: 'HS256' })
  const target = (path: string, connect: ConnectOptions): { url: string, protocols: string[], options: ClientOptions } => {
    let url = path.startsWith('wss:') || path.startsWith('ws:') ? path : `${wsUrl}${path}`
    let protocols = connect.protocols ?? []
    if (connect.ticket !== undefined) {
      if (connect.ticketIn === 'query') url += `${url.includes('?') ? '&' : '?'}${ticketQuery(connect.ticket)}`
      else protocols = ticketProtocols(connect.ticket, protocols)
    }
    const headers: Record<string, string> = { ...connect.headers }
    if (connect.token !== undefined) headers['authorization'] = `Bearer ${connect.token}`
    return { url, protocols, options: { ...connect.client, ca, headers, ...(connect.origin === undefined ? {} : { origin: connect.origin }) } }
  }
  return {
    app,
    port,
    url: `https://localhost:${port}`,
    wsUrl,
    ca,
    logs: options.logs ?? new LogCapture(),
    sign (claims, expiresInS = 300) {
      if (signer === undefined) throw new TypeError('sign() needs the HS256 secret the app verifies with (listen(..., { secret }))')
      const now = Math.floor(Date.now() / 1000)
      return signer({ iat: now, exp: now + expiresInS, ...claims })
    },
    ticket (claims) {
      return app.tether.issueTicket(claims).ticket
    },
    async connect (path, connect = {}) {
      const { url, protocols, options: clientOptions } = target(path, connect)
      const ws = new WebSocket(url, protocols, clientOptions)
      open.add(ws)
      const client = new TestClient(ws)
      await waitOpen(ws, connect.timeoutMs ?? WAIT_MS)
      return client
    },
    async expectRefusal (path, connect = {}) {
      const { url, protocols, options: clientOptions } = target(path, connect)
      return await attemptRefused(url, { ...clientOptions, protocols }, connect.timeoutMs ?? WAIT_MS)
    }
  }
}

/** Options of {@link tetherTest}. */
export interface TetherTestOptions {
  /** Registers the routes (and plugins) under test; runs after the tether plugin. */
  routes?: (app: FastifyInstance) => void | Promise<void>
  /**
   * The tether plugin's options; `false` when `routes` registers the plugin itself. By default
   * tokens are HS256 with a random per-test secret (`sign()` makes them).
   */
  tether?: TetherOptions | false
  /** More Fastify options (not `https`, which the kit sets, nor the logger with `logLevel`). */
  fastify?: Omit<FastifyServerOptions, 'https' | 'logger' | 'loggerInstance'>
  /** Level of the captured log. Default `info`. */
  logLevel?: string
}

/**
 * `fastify.inject` for WebSockets, over real TLS: builds a Fastify app with a throwaway CA on
 * 127.0.0.1 and port 0, registers tether and the routes under test, and tears it all down when the
 * test ends. `connect()` with a token, ticket or Origin; `expectRefusal()` for a status and error
 * code; `sign()` for tokens.
 */
export async function tetherTest (t: TestContext, options: TetherTestOptions = {}): Promise<TestServer> {
  const certificates = await testCertificates()
  const logs = new LogCapture()
  const secret = randomBytes(32).toString('base64url')
  const app = Fastify({
    ...options.fastify,
    https: secureServerOptions({ cert: certificates.cert, key: certificates.key }, 10_000),
    logger: { level: options.logLevel ?? 'info', stream: logs.stream }
  } as FastifyServerOptions) as unknown as FastifyInstance // typed against the default instance; the server is HTTPS
  if (options.tether !== false) {
    await app.register(tetherPlugin, { auth: jwtAuth({ secret }), ...options.tether })
  }
  if (options.routes !== undefined) await app.register(async (scope) => { await options.routes?.(scope) })
  return await listen(t, app, { ca: certificates.ca, secret, logs })
}
