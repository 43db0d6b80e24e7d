import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { WebSocket, type ClientOptions, type RawData } from 'ws'
import { buildApp } from '../src/app.js'
import { loggerOptions } from '../src/logging.js'
import type { TokenClaims } from '../src/security/claims.js'
import { DEFAULTS, loadConfig, type AppConfig, type TetherSettings } from '../src/config.js'
import { ensureDevCertificates, type DevCertificates } from '../src/tls/dev-certificates.js'

/** Every wait in the tests is bounded by this; a missed event fails the test instead of hanging. */
export const WAIT_MS = 5_000

/** The minimal slice of a tap test the helper needs. */
export interface TestContext {
  teardown: (fn: () => unknown) => void
}

/** One structured log line of the app under test. */
export type LogLine = Record<string, unknown> & { msg?: string, level: number }

/** Log lines captured from the app, with a way to await one. */
export class LogCapture {
  readonly lines: LogLine[] = []
  readonly #waiters: Array<{ match: (line: LogLine) => boolean, resolve: (line: LogLine) => void }> = []

  /** Records one line (called by the pino stream). */
  add (line: LogLine): void {
    this.lines.push(line)
    for (const waiter of [...this.#waiters]) {
      if (waiter.match(line)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
        waiter.resolve(line)
      }
    }
  }

  /** Resolves with the first line, past or future, that matches; rejects after {@link WAIT_MS}. */
  waitFor (match: (line: LogLine) => boolean, what = 'a matching log line'): Promise<LogLine> {
    const seen = this.lines.find(match)
    if (seen !== undefined) return Promise.resolve(seen)
    return withTimeout(new Promise((resolve) => { this.#waiters.push({ match, resolve }) }), `waiting for ${what}`)
  }
}

let certificates: Promise<DevCertificates> | undefined

/** One development CA and server certificate per test process, in a fresh temporary folder. */
export function testCertificates (): Promise<DevCertificates> {
  certificates ??= ensureDevCertificates({ dir: mkdtempSync(join(tmpdir(), 'tether-certs-')) })
  return certificates
}

/** What {@link build} accepts: configuration overrides and test-only routes. */
export interface BuildOverrides {
  config?: Partial<Omit<AppConfig, 'tether'>>
  tether?: Partial<TetherSettings>
  /** Registers extra routes or hooks before the server starts. */
  routes?: (app: FastifyInstance) => void | Promise<void>
}

/** A running reference server on 127.0.0.1 and an ephemeral port, over real TLS. */
export interface Built {
  app: FastifyInstance
  port: number
  /** `https://localhost:<port>` */
  url: string
  /** `wss://localhost:<port>` */
  wsUrl: string
  /** PEM of the development CA the clients trust. */
  ca: string
  logs: LogCapture
  /** Opens a client to `path` trusting the dev CA; resolves once open. */
  connect: (path: string, options?: ClientOptions) => Promise<WebSocket>
  /** Signs a token with the app's secret: `sub` plus any claims; `expiresInS` defaults to 300. */
  token: (claims: Partial<TokenClaims> & { sub: string }, expiresInS?: number) => string
  /** How many connections a route's handler has been given so far. */
  handlerRuns: (route: string) => number
}

/** Starts the real app (plugins, routes, TLS) on port 0 and closes it when the test ends. */
export async function build (t: TestContext, overrides: BuildOverrides = {}): Promise<Built> {
  const certs = await testCertificates()
  const base = loadConfig({})
  const config: AppConfig = {
    ...base,
    host: '127.0.0.1',
    port: 0,
    logLevel: 'debug',
    ...overrides.config,
    tether: { ...DEFAULTS.tether, ...overrides.tether }
  }
  const logs = new LogCapture()
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) {
        if (line !== '') logs.add(JSON.parse(line) as LogLine)
      }
      callback()
    }
  })
  const app = await buildApp({
    config,
    certificate: { cert: certs.cert, key: certs.key },
    loggerInstance: pino(loggerOptions('debug'), stream)
  })
  if (overrides.routes !== undefined) await app.register(async (scope) => { await overrides.routes?.(scope) })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address')
  const port = address.port
  const wsUrl = `wss://localhost:${port}`
  const open: WebSocket[] = []
  t.teardown(() => { for (const ws of open) ws.terminate() })
  return {
    app,
    port,
    url: `https://localhost:${port}`,
    wsUrl,
    ca: certs.ca,
    logs,
    async connect (path, options = {}) {
      const ws = new WebSocket(`${wsUrl}${path}`, { ca: certs.ca, ...options })
      open.push(ws)
      await waitOpen(ws)
      return ws
    },
    token (claims, expiresInS = 300) {
      return app.jwt.sign(claims as TokenClaims, { expiresIn: expiresInS * 1000 })
    },
    handlerRuns (route) {
      return logs.lines.filter((line) => line.msg === 'websocket accepted' && line['route'] === route).length
    }
  }
}

/** Rejects with a clear message when `promise` has not settled within `ms`. */
export async function withTimeout<T> (promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Awaits `event` on `emitter`, bounded by {@link WAIT_MS}. */
export async function waitEvent (emitter: NodeJS.EventEmitter, event: string, ms = WAIT_MS): Promise<unknown[]> {
  return await once(emitter, event, { signal: AbortSignal.timeout(ms) })
}

/** Resolves once the client is open; rejects on an error or an unexpected HTTP response. */
export async function waitOpen (ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.OPEN) return
  await withTimeout(new Promise<void>((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode ?? ''}`)))
  }), 'for the socket to open')
}

/** A received message as the framework delivers it: text as string, binary as Buffer. */
export type Received = string | Buffer

function decode (data: RawData, isBinary: boolean): Received {
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer)
  return isBinary ? buffer : buffer.toString()
}

/** Collects the next `count` messages, in order; rejects if the socket closes first or time runs out. */
export function collect (ws: WebSocket, count: number, ms = WAIT_MS): Promise<Received[]> {
  const received: Received[] = []
  return withTimeout(new Promise((resolve, reject) => {
    const onMessage = (data: RawData, isBinary: boolean): void => {
      received.push(decode(data, isBinary))
      if (received.length === count) { cleanup(); resolve(received) }
    }
    const onClose = (code: number): void => {
      cleanup()
      reject(new Error(`socket closed with ${code} after ${received.length} of ${count} messages`))
    }
    const cleanup = (): void => { ws.off('message', onMessage); ws.off('close', onClose) }
    ws.on('message', onMessage)
    ws.on('close', onClose)
  }), `for ${count} messages`, ms)
}

/** Collects the next `count` JSON messages that match, in order, ignoring the others. */
export function collectJson<T = Record<string, unknown>> (ws: WebSocket, count: number, match: (message: T) => boolean = () => true, ms = WAIT_MS): Promise<T[]> {
  const received: T[] = []
  return withTimeout(new Promise((resolve, reject) => {
    const onMessage = (data: RawData, isBinary: boolean): void => {
      const message = JSON.parse(String(decode(data, isBinary))) as T
      if (!match(message)) return
      received.push(message)
      if (received.length === count) { cleanup(); resolve(received) }
    }
    const onClose = (code: number): void => {
      cleanup()
      reject(new Error(`socket closed with ${code} after ${received.length} of ${count} matching messages`))
    }
    const cleanup = (): void => { ws.off('message', onMessage); ws.off('close', onClose) }
    ws.on('message', onMessage)
    ws.on('close', onClose)
  }), `for ${count} matching messages`, ms)
}

/** The close code and reason the client saw. */
export interface ClientClose {
  code: number
  reason: string
}

/** Resolves with the close the client sees; bounded by {@link WAIT_MS}. */
export async function waitClose (ws: WebSocket, ms = WAIT_MS): Promise<ClientClose> {
  if (ws.readyState === WebSocket.CLOSED) throw new Error('socket already closed before waiting')
  const [code, reason] = await waitEvent(ws, 'close', ms) as [number, Buffer]
  return { code, reason: reason.toString() }
}

/** A promise with its resolve function exposed, for server-side test routes to report into. */
export function deferred<T = void> (): { promise: Promise<T>, resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((_resolve) => { resolve = _resolve })
  return { promise, resolve }
}
