import type { ServerOptions as HttpServerOptions } from 'node:http'
import type { ServerOptions as HttpsServerOptions } from 'node:https'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autoload from '@fastify/autoload'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { limitSockets, secureServerOptions, type ServerCertificate, type SocketLimiter } from 'fastify-tether'
import type { AppConfig } from './config.js'
import { loggerOptions } from './logging.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

// Running from .ts sources means a TypeScript loader (tsx) is active; @fastify/autoload only
// detects loaders given with --require, so tell it explicitly to load plugins/ and routes/ as .ts.
if (import.meta.url.endsWith('.ts')) process.env['FASTIFY_AUTOLOAD_TYPESCRIPT'] ??= '1'

declare module 'fastify' {
  interface FastifyInstance {
    /** The reference server's configuration, as loaded at start. */
    config: AppConfig
    /** The caps on open sockets per client address and in all, checked before TLS, and their counts. */
    sockets: SocketLimiter
  }
}

/** What {@link buildApp} needs besides the configuration. */
export interface BuildAppOptions {
  config: AppConfig
  /** Required unless `config.plainHttp` (TLS=off), where it is ignored. */
  certificate?: ServerCertificate | undefined
  /** Fastify's logger option; defaults to pino at `config.logLevel`. Ignored with `loggerInstance`. */
  logger?: FastifyServerOptions['logger']
  /** An existing pino logger to use instead. */
  loggerInstance?: FastifyBaseLogger
}

/**
 * The composition root of the reference server: Fastify over HTTPS with the framework's TLS policy
 * and timeouts, then every plugin in plugins/ (autoloaded), then every route in routes/. It uses
 * fastify-tether only through its public entry points, as any service would.
 */
export async function buildApp (options: BuildAppOptions): Promise<FastifyInstance> {
  const { config, certificate } = options
  // Passed through to the HTTP server: a client sending its headers a byte at a time is cut off.
  const timeouts = { headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: config.connectionsCheckingIntervalMs }
  // TLS=off: plain HTTP for a TLS-terminating proxy on this host (loadConfig keeps it on loopback).
  const listener: { https: HttpsServerOptions } | { http: HttpServerOptions } = config.plainHttp
    ? { http: timeouts }
    : { https: { ...secureServerOptions(requireCertificate(certificate), config.tlsHandshakeTimeoutMs), ...timeouts } }
  const app = Fastify({
    ...listener as { https: HttpsServerOptions },
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    ...(options.loggerInstance !== undefined
      ? { loggerInstance: options.loggerInstance }
      : { logger: options.logger ?? loggerOptions(config.logLevel) }),
    return503OnClosing: true,
    // Only listed proxies may set the client IP (X-Forwarded-For); anyone else could dodge the
    // per-IP handshake rate and connection caps by sending the header themselves.
    trustProxy: config.trustProxy ?? false
  }) as unknown as FastifyInstance // plugins are typed against the default instance; the server is HTTPS
  app.decorate('config', config)
  // Before TLS and HTTP: one address cannot hold more than MAX_SOCKETS_PER_IP sockets (idle TLS
  // handshakes included), and the process never holds more than MAX_SOCKETS.
  const sockets = limitSockets(app.server, {
    maxPerAddress: config.maxSocketsPerIp,
    ...(config.maxSockets === undefined ? {} : { max: config.maxSockets }),
    log: app.log
  })
  app.decorate('sockets', sockets)
  app.addHook('onClose', async () => { sockets.close() })
  await app.register(autoload, { dir: join(root, 'plugins') })
  // The served certificate's expiry as a metric, when metrics are on (plugins/metrics.ts).
  if (certificate !== undefined && app.metrics !== undefined) app.metrics.observeCertificate(certificate.cert)
  await app.register(autoload, { dir: join(root, 'routes'), dirNameRoutePrefix: false })
  return app
}

function requireCertificate (certificate: ServerCertificate | undefined): ServerCertificate {
  if (certificate === undefined) throw new TypeError('buildApp needs a certificate unless config.plainHttp (TLS=off)')
  return certificate
}
