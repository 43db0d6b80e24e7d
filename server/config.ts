import { randomBytes } from 'node:crypto'
import { ConfigError, parseOrigin, TETHER_DEFAULTS, type PressureOptions, type TetherSettings } from 'fastify-tether'

/** The reference server's own defaults; the library's are `TETHER_DEFAULTS`. */
export const APP_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 8443,
  certDir: '.certs',
  feedIntervalMs: 1_000,
  /** A TLS client that has not finished its handshake by then is dropped. */
  tlsHandshakeTimeoutMs: 10_000,
  /** A client that has not sent complete request headers by then is dropped (slowloris). */
  headersTimeoutMs: 10_000,
  /** How often Node checks the header and request timeouts. */
  connectionsCheckingIntervalMs: 1_000,
  /** A whole plain HTTP request (not an upgraded socket) must complete within this. */
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  logLevel: 'info',
  /** permessage-deflate on /ws/echo (WS_COMPRESSION=on); off by default. */
  compression: false,
  /**
   * Open sockets one client address may hold (MAX_SOCKETS_PER_IP), counted from the TCP accept,
   * before TLS: the plugin's 100 WebSockets per IP plus room for HTTP requests. 0 with TRUST_PROXY,
   * where every socket is the proxy's.
   */
  maxSocketsPerIp: 128
})

/** Minimum JWT_SECRET length in production: 256 bits of HS256 key, as RFC 7518 section 3.2 asks. */
export const MIN_JWT_SECRET_LENGTH = 32

/** The reference server's configuration, read from the environment by {@link loadConfig}. */
export interface AppConfig {
  /** NODE_ENV === 'production': nothing is generated, missing secrets and certificates are errors. */
  production: boolean
  host: string
  port: number
  /** PEM paths of a real certificate; when both are absent outside production, dev certs are used. */
  tlsCertPath: string | undefined
  tlsKeyPath: string | undefined
  /**
   * TLS=off: the server speaks plain HTTP (ws://), for a TLS-terminating proxy on the same host. Only
   * on a loopback HOST unless FORCE_PLAIN_HTTP=on; TLS_CERT/TLS_KEY are then refused.
   */
  plainHttp: boolean
  certDir: string
  feedIntervalMs: number
  tlsHandshakeTimeoutMs: number
  headersTimeoutMs: number
  connectionsCheckingIntervalMs: number
  requestTimeoutMs: number
  keepAliveTimeoutMs: number
  logLevel: string
  /** Origins allowed to open WebSockets; `undefined` means this server's own https origins. */
  allowedOrigins: string[] | undefined
  /** HS256 secret for tokens. */
  jwtSecret: string
  /** True when JWT_SECRET was unset in development and a random one was made for this process. */
  jwtSecretGenerated: boolean
  /** WS_COMPRESSION=on: routes that opt in (the reference /ws/echo) negotiate permessage-deflate. */
  compression: boolean
  /** REDIS_URL: when set, the hub fans out across instances through Redis pub/sub. */
  redisUrl: string | undefined
  /**
   * READY_REQUIRES_BACKPLANE=on: `/ready` answers 503 `backplane_down` while Redis is unreachable.
   * Off by default (an instance without Redis still serves its own clients); needs REDIS_URL.
   */
  readyRequiresBackplane: boolean
  /** TLS_WATCH (default on): reload the certificate when its files change; off leaves SIGHUP and the daily check. */
  tlsWatch: boolean
  /**
   * DEV_TOKENS=on: `POST /auth/dev-token` mints a token for any identity, unauthenticated. Off by
   * default (the route does not exist: 404); refused together with NODE_ENV=production.
   */
  devTokens: boolean
  /**
   * TRUST_PROXY: addresses or CIDRs of the reverse proxies in front (comma-separated), whose
   * X-Forwarded-For is believed for the client IP that rate limits and per-IP caps use. Unset: none.
   */
  trustProxy: string[] | undefined
  /** MAX_SOCKETS_PER_IP: open sockets per client address, before TLS (0: no cap). */
  maxSocketsPerIp: number
  /** MAX_SOCKETS: open sockets in all (0: no cap); undefined: 90% of the open-file limit. */
  maxSockets: number | undefined
  /**
   * METRICS_TOKEN: the bearer token `/metrics` requires (at least 16 characters). Alone, `/metrics`
   * is served on the server's own (TLS) port; with METRICS_PORT, the loopback listener requires it
   * too. Unset with METRICS_PORT unset: no metrics at all.
   */
  metricsToken: string | undefined
  /**
   * METRICS_PORT: serve `/metrics` on a separate plain HTTP listener on 127.0.0.1 at this port (0:
   * any free port) instead of the server's own port; a token is then optional. Unset: none.
   */
  metricsPort: number | undefined
  tether: TetherSettings
  /**
   * The overload guard's limits (PRESSURE_MAX_HEAP_BYTES, PRESSURE_MAX_RSS_BYTES,
   * PRESSURE_MAX_EVENT_LOOP_DELAY_MS; 0 turns one off); unset ones keep the library's defaults.
   */
  pressure: PressureOptions
}

type Env = Record<string, string | undefined>

function readInteger (env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(`${name} must be a whole number, got "${raw}"`)
  }
  const value = Number(raw)
  if (value < min || value > max) {
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`)
  }
  return value
}

function readPressure (env: Env): PressureOptions {
  const limits: PressureOptions = {}
  const heap = readString(env, 'PRESSURE_MAX_HEAP_BYTES')
  const rss = readString(env, 'PRESSURE_MAX_RSS_BYTES')
  const delay = readString(env, 'PRESSURE_MAX_EVENT_LOOP_DELAY_MS')
  if (heap !== undefined) limits.maxHeapUsedBytes = readInteger(env, 'PRESSURE_MAX_HEAP_BYTES', 0, 0)
  if (rss !== undefined) limits.maxRssBytes = readInteger(env, 'PRESSURE_MAX_RSS_BYTES', 0, 0)
  if (delay !== undefined) limits.maxEventLoopDelayMs = readInteger(env, 'PRESSURE_MAX_EVENT_LOOP_DELAY_MS', 0, 0)
  return limits
}

function readRedisUrl (env: Env): string | undefined {
  const raw = readString(env, 'REDIS_URL')
  if (raw === undefined) return undefined
  if (!/^rediss?:\/\/[^\s]+$/.test(raw)) throw new ConfigError('REDIS_URL must look like redis://host:6379 or rediss://host:6380')
  return raw
}

function readReadyRequiresBackplane (env: Env): boolean {
  const required = readSwitch(env, 'READY_REQUIRES_BACKPLANE', false)
  if (required && readString(env, 'REDIS_URL') === undefined) throw new ConfigError('READY_REQUIRES_BACKPLANE=on needs REDIS_URL: there is no backplane to require')
  return required
}

function readSwitch (env: Env, name: string, fallback: boolean): boolean {
  const raw = readString(env, name)?.toLowerCase()
  if (raw === undefined) return fallback
  if (raw === 'on' || raw === 'true' || raw === '1') return true
  if (raw === 'off' || raw === 'false' || raw === '0') return false
  throw new ConfigError(`${name} must be on or off, got "${raw}"`)
}

function readString (env: Env, name: string): string | undefined {
  const raw = env[name]
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim()
}

/**
 * Parses a comma-separated origin list. Each entry must be exactly an origin (scheme, host and
 * optional port; no path, no trailing slash, no wildcard), since matching is exact.
 */
export function parseOrigins (raw: string, variable = 'ALLOWED_ORIGINS'): string[] {
  const origins = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
  if (origins.length === 0) throw new ConfigError(`${variable} must list at least one origin`)
  return origins.map((origin) => parseOrigin(origin, variable))
}

function readJwtSecret (env: Env, production: boolean): { jwtSecret: string, jwtSecretGenerated: boolean } {
  const secret = env['JWT_SECRET']
  if (secret !== undefined && secret !== '') {
    if (production && secret.length < MIN_JWT_SECRET_LENGTH) {
      throw new ConfigError(`JWT_SECRET must be at least ${MIN_JWT_SECRET_LENGTH} characters when NODE_ENV=production`)
    }
    return { jwtSecret: secret, jwtSecretGenerated: false }
  }
  if (production) throw new ConfigError('JWT_SECRET is required when NODE_ENV=production')
  return { jwtSecret: randomBytes(32).toString('base64url'), jwtSecretGenerated: true }
}

/** True for an address only this host can reach: 127.0.0.0/8, ::1 (also IPv4-mapped), localhost. */
export function isLoopbackHost (host: string): boolean {
  const bare = host.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (bare === 'localhost' || bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true
  const v4 = bare.replace(/^::ffff:/, '')
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4) && v4.split('.').every((part) => Number(part) <= 255)
}

/**
 * TLS=off (plain HTTP behind a proxy on this host): anyone who can reach a plain listener reads
 * tokens and tickets in clear and can send any X-Forwarded-For the proxy would, so it must be on
 * loopback unless FORCE_PLAIN_HTTP=on says the network in between is trusted.
 */
function readPlainHttp (env: Env, host: string, hasCertificate: boolean): boolean {
  const plain = !readSwitch(env, 'TLS', true)
  const forced = readSwitch(env, 'FORCE_PLAIN_HTTP', false)
  if (!plain) {
    if (forced) throw new ConfigError('FORCE_PLAIN_HTTP=on only applies with TLS=off')
    return false
  }
  if (hasCertificate) throw new ConfigError('TLS=off contradicts TLS_CERT and TLS_KEY: unset them, or remove TLS=off')
  if (!isLoopbackHost(host) && !forced) {
    throw new ConfigError(`TLS=off listens on plain HTTP, so HOST must be a loopback address (127.0.0.1, ::1), got "${host}"; FORCE_PLAIN_HTTP=on allows another address when the network to the proxy is trusted (README "Running behind a proxy")`)
  }
  return true
}

/** Shortest METRICS_TOKEN accepted: 128 bits of base64 or hex is 22 or 32 characters; 16 is a floor, not advice. */
export const MIN_METRICS_TOKEN_LENGTH = 16

/**
 * METRICS_TOKEN and METRICS_PORT. Neither: no /metrics. A token alone: /metrics on the server's own
 * port, behind `Authorization: Bearer <token>`. A port (with or without a token): /metrics only on
 * 127.0.0.1:<port>, plain HTTP, behind the token when there is one.
 */
function readMetrics (env: Env, port: number): { metricsToken: string | undefined, metricsPort: number | undefined } {
  const metricsToken = readString(env, 'METRICS_TOKEN')
  if (metricsToken !== undefined) {
    if (metricsToken.length < MIN_METRICS_TOKEN_LENGTH) throw new ConfigError(`METRICS_TOKEN must be at least ${MIN_METRICS_TOKEN_LENGTH} characters`)
    if (!/^[\x21-\x7e]+$/.test(metricsToken)) throw new ConfigError('METRICS_TOKEN must be printable ASCII without spaces (it is sent in an Authorization header)')
  }
  const metricsPort = readString(env, 'METRICS_PORT') === undefined ? undefined : readInteger(env, 'METRICS_PORT', 0, 0, 65_535)
  if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === port) throw new ConfigError(`METRICS_PORT must differ from PORT (${port})`)
  return { metricsToken, metricsPort }
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

/**
 * Reads the reference server's configuration from environment variables, applying
 * {@link APP_DEFAULTS} and the library's `TETHER_DEFAULTS`.
 * Throws a {@link ConfigError} naming the variable at the first value that cannot work.
 */
export function loadConfig (env: Env = process.env): AppConfig {
  const production = env['NODE_ENV'] === 'production'
  const tlsCertPath = readString(env, 'TLS_CERT')
  const tlsKeyPath = readString(env, 'TLS_KEY')
  if ((tlsCertPath === undefined) !== (tlsKeyPath === undefined)) {
    throw new ConfigError('TLS_CERT and TLS_KEY must be set together')
  }
  const host = readString(env, 'HOST') ?? APP_DEFAULTS.host
  const plainHttp = readPlainHttp(env, host, tlsCertPath !== undefined)
  if (production && tlsCertPath === undefined && !plainHttp) {
    throw new ConfigError('TLS_CERT and TLS_KEY are required when NODE_ENV=production (no development certificates are generated in production)')
  }
  const logLevel = readString(env, 'LOG_LEVEL') ?? APP_DEFAULTS.logLevel
  if (!LOG_LEVELS.has(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${[...LOG_LEVELS].join(', ')}, got "${logLevel}"`)
  }
  const origins = readString(env, 'ALLOWED_ORIGINS')
  const devTokens = readSwitch(env, 'DEV_TOKENS', false)
  if (production && devTokens) {
    throw new ConfigError('DEV_TOKENS=on is refused when NODE_ENV=production: dev tokens let anyone mint any identity')
  }
  const t = TETHER_DEFAULTS
  const a = APP_DEFAULTS
  return {
    production,
    host,
    plainHttp,
    port: readInteger(env, 'PORT', a.port, 0, 65_535),
    tlsCertPath,
    tlsKeyPath,
    certDir: readString(env, 'CERT_DIR') ?? a.certDir,
    feedIntervalMs: readInteger(env, 'FEED_INTERVAL_MS', a.feedIntervalMs, 1),
    tlsHandshakeTimeoutMs: a.tlsHandshakeTimeoutMs,
    headersTimeoutMs: a.headersTimeoutMs,
    connectionsCheckingIntervalMs: a.connectionsCheckingIntervalMs,
    requestTimeoutMs: a.requestTimeoutMs,
    keepAliveTimeoutMs: a.keepAliveTimeoutMs,
    logLevel,
    allowedOrigins: origins === undefined ? undefined : parseOrigins(origins),
    compression: readSwitch(env, 'WS_COMPRESSION', a.compression),
    redisUrl: readRedisUrl(env),
    readyRequiresBackplane: readReadyRequiresBackplane(env),
    tlsWatch: readSwitch(env, 'TLS_WATCH', true),
    devTokens,
    trustProxy: readString(env, 'TRUST_PROXY')?.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''),
    maxSocketsPerIp: readInteger(env, 'MAX_SOCKETS_PER_IP', readString(env, 'TRUST_PROXY') === undefined ? a.maxSocketsPerIp : 0, 0),
    maxSockets: readString(env, 'MAX_SOCKETS') === undefined ? undefined : readInteger(env, 'MAX_SOCKETS', 0, 0),
    ...readMetrics(env, readInteger(env, 'PORT', a.port, 0, 65_535)),
    ...readJwtSecret(env, production),
    pressure: readPressure(env),
    tether: {
      maxPayloadBytes: readInteger(env, 'WS_MAX_PAYLOAD', t.maxPayloadBytes, 1),
      maxFragments: readInteger(env, 'WS_MAX_FRAGMENTS', t.maxFragments, 1),
      messageTimeoutMs: readInteger(env, 'WS_MESSAGE_TIMEOUT_MS', t.messageTimeoutMs, 0),
      sendHighWaterBytes: t.sendHighWaterBytes,
      maxBufferedBytes: readInteger(env, 'WS_MAX_BUFFERED', t.maxBufferedBytes, 1),
      receiveHighWaterMessages: t.receiveHighWaterMessages,
      receiveHighWaterBytes: t.receiveHighWaterBytes,
      closeTimeoutMs: t.closeTimeoutMs,
      shutdownTimeoutMs: readInteger(env, 'SHUTDOWN_TIMEOUT_MS', t.shutdownTimeoutMs, 0),
      handshakeRatePerMin: readInteger(env, 'HANDSHAKE_RATE_PER_MIN', t.handshakeRatePerMin, 0),
      httpRatePerMin: readInteger(env, 'API_RATE_PER_MIN', t.httpRatePerMin, 0),
      maxConnectionsPerUser: readInteger(env, 'WS_MAX_CONN_PER_USER', t.maxConnectionsPerUser, 1),
      maxConnectionsPerIp: readInteger(env, 'WS_MAX_CONN_PER_IP', t.maxConnectionsPerIp, 1),
      ticketTtlMs: t.ticketTtlMs,
      maxTokenLifetimeS: readInteger(env, 'MAX_TOKEN_LIFETIME_S', t.maxTokenLifetimeS, 1),
      messageRatePerSec: readInteger(env, 'WS_RATE_PER_SEC', t.messageRatePerSec, 0),
      messageBurst: readInteger(env, 'WS_BURST', t.messageBurst, 1),
      maxInvalidMessages: t.maxInvalidMessages,
      heartbeatMs: readInteger(env, 'WS_HEARTBEAT_MS', t.heartbeatMs, 0)
    }
  }
}
