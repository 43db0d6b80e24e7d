import type { FastifyInstance } from 'fastify'
import type { TokenClaims } from 'fastify-tether'
import { LogCapture, listen, testCertificates, waitOpen, type TestContext, type TestServer } from 'fastify-tether/testing'
import pino from 'pino'
import { WebSocket, type ClientOptions } from 'ws'
import { buildApp } from '../server/app.js'
import { loadConfig, type AppConfig } from '../server/config.js'
import { loggerOptions } from '../server/logging.js'
import { TETHER_DEFAULTS, type TetherSettings } from 'fastify-tether'

// What is specific to the reference server: building it from its own configuration. Everything
// generic (certificates, clients, waits, log capture) is fastify-tether/testing, as for any service.

/** What {@link build} accepts: configuration overrides and test-only routes. */
export interface BuildOverrides {
  config?: Partial<Omit<AppConfig, 'tether'>>
  tether?: Partial<TetherSettings>
  /** Registers extra routes or hooks before the server starts. */
  routes?: (app: FastifyInstance) => void | Promise<void>
}

/** A running reference server over real TLS, and the testing kit's handle on it. */
export interface Built extends Omit<TestServer, 'connect'> {
  logs: LogCapture
  /** Opens a raw `ws` client to `path` trusting the test CA; resolves once open. */
  connect: (path: string, options?: ClientOptions) => Promise<WebSocket>
  /** The testing kit's client, for tests written against it. */
  client: TestServer['connect']
  /** Signs a token with the app's secret: `sub` plus any claims; `expiresInS` defaults to 300. */
  token: (claims: Partial<TokenClaims> & { sub: string }, expiresInS?: number) => string
  /** How many connections a route's handler has been given so far. */
  handlerRuns: (route: string) => number
}

/** Starts the reference server (plugins, routes, TLS) on port 0 and closes it when the test ends. */
export async function build (t: TestContext & { teardown: (fn: () => unknown) => void }, overrides: BuildOverrides = {}): Promise<Built> {
  const certs = await testCertificates()
  const base = loadConfig({})
  const config: AppConfig = {
    ...base,
    host: '127.0.0.1',
    port: 0,
    logLevel: 'debug',
    ...overrides.config,
    tether: { ...TETHER_DEFAULTS, ...overrides.tether }
  }
  const logs = new LogCapture()
  const app = await buildApp({
    config,
    certificate: { cert: certs.cert, key: certs.key },
    loggerInstance: pino(loggerOptions(config.logLevel), logs.stream)
  })
  if (overrides.routes !== undefined) await app.register(async (scope) => { await overrides.routes?.(scope) })
  const server = await listen(t, app, { ca: certs.ca, secret: config.jwtSecret, logs })
  const open: WebSocket[] = []
  t.teardown(() => { for (const ws of open) ws.terminate() })
  return {
    ...server,
    logs,
    client: server.connect,
    async connect (path, options = {}) {
      const ws = new WebSocket(`${server.wsUrl}${path}`, { ca: certs.ca, ...options })
      open.push(ws)
      await waitOpen(ws)
      return ws
    },
    token: server.sign,
    handlerRuns (route) {
      return logs.lines.filter((line) => line.msg === 'websocket accepted' && line['route'] === route).length
    }
  }
}
