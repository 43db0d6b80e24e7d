import { totalmem } from 'node:os'
import { getHeapStatistics } from 'node:v8'
import { KindGuard, type TObject } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import type { AuthScheme } from './auth/scheme.js'
import { ConfigError } from './errors.js'
import type { Backplane } from './hub/backplane.js'
import { parseOrigin } from './security/origin-policy.js'

/**
 * Every numeric default of the tether plugin, in one place, with its unit in its name. A host
 * overrides any of them in the plugin's options; the resolved values are frozen in
 * `app.tether.settings`.
 */
export const TETHER_DEFAULTS = Object.freeze({
  /** Largest message accepted, after reassembly of fragments and after inflation. */
  maxPayloadBytes: 65_536, // 64 KiB
  /**
   * Most frames one message may arrive in (ws's `maxFragments`); more closes with 1008. ws keeps
   * every fragment of an unfinished message as its own buffer (about 150 bytes of bookkeeping each,
   * whatever its payload), so at ws's 16,384 a message of one-byte fragments held about 2.4 MB for
   * 16 KB of payload. 128 keeps that overhead near 20 KB while allowing fragments of 512 bytes on
   * average for a full 64 KiB message; browsers never fragment what they send, and streaming
   * clients use fragments of kilobytes.
   */
  maxFragments: 128,
  /**
   * Longest a message may take from its first byte to its last (all its fragments); a message
   * still unfinished after this closes the connection with 1008 `message timeout`. Checked by one
   * sweep timer for all connections every quarter of this, so the close comes between 1x and
   * 1.5x this after the message began (0 disables).
   */
  messageTimeoutMs: 30_000,
  /** `send()` waits for the socket to drain while more than this is buffered. */
  sendHighWaterBytes: 1_048_576, // 1 MiB
  /** A fan-out write (`push()`) to a connection buffering more than this closes it with 1013. */
  maxBufferedBytes: 4_194_304, // 4 MiB
  /** Unread incoming messages kept before the socket is paused (TCP backpressure to the client). */
  receiveHighWaterMessages: 1024,
  /**
   * Unread incoming bytes kept before the socket is paused: with `receiveHighWaterMessages`, what
   * bounds the memory a handler that does not read can be made to hold.
   */
  receiveHighWaterBytes: 1_048_576, // 1 MiB
  /** How long a closing handshake may take before the socket is destroyed. */
  closeTimeoutMs: 5_000,
  /** How long handlers get to finish after shutdown begins before their sockets are terminated. */
  shutdownTimeoutMs: 10_000,
  /** Upgrade attempts one client IP may make per minute, refused or not (0 disables). */
  handshakeRatePerMin: 120,
  /**
   * Requests one client IP, and one user, may make per minute to each HTTP endpoint that mints,
   * pushes or authenticates: the `ticketPath` route and routes using `app.tether.rateLimit()`
   * (0 disables). As many as the handshake budget: each ticket is for one upgrade.
   */
  httpRatePerMin: 120,
  /** Open connections one user (`sub`) may hold across all routes. */
  maxConnectionsPerUser: 10,
  /** Open connections one client IP may hold across all routes. */
  maxConnectionsPerIp: 100,
  /** How long a ticket may be redeemed, once. */
  ticketTtlMs: 30_000,
  /** Longest a token may live: `exp` at most this far from now, and `exp - iat` at most this (401 otherwise). */
  maxTokenLifetimeS: 86_400, // 24 h
  /** Sustained incoming messages per second per connection (token bucket refill; 0 disables). */
  messageRatePerSec: 50,
  /** Incoming messages a connection may send in a burst (token bucket size). */
  messageBurst: 100,
  /** Consecutive invalid JSON messages tolerated before closing with 1008. */
  maxInvalidMessages: 10,
  /**
   * Ping interval; a peer that has not answered the last ping with a pong carrying that ping's
   * payload by the next ping is terminated (0 disables). Pings and pongs from the peer count
   * against its message rate like messages.
   */
  heartbeatMs: 30_000
})

/** The numeric settings of the tether plugin (see {@link TETHER_DEFAULTS} for each default). */
export type TetherSettings = { -readonly [K in keyof typeof TETHER_DEFAULTS]: number }

/** Options of the tether plugin. Every numeric option defaults to {@link TETHER_DEFAULTS}. */
export interface TetherOptions extends Partial<TetherSettings> {
  /**
   * How upgrades are authenticated: `jwtAuth({ secret })`, `jwtAuth({ publicKey })`,
   * `jwtAuth({ jwksUrl, issuer, audience })`, `fastifyJwtAuth()` (the host's own @fastify/jwt) or
   * any {@link AuthScheme}. Without it only `auth: false` routes can be declared.
   */
  auth?: AuthScheme
  /**
   * Origins allowed to open WebSockets (exact `scheme://host[:port]`). Default: this server's own
   * `https://localhost:<port>` and `https://127.0.0.1:<port>`, resolved once it listens.
   */
  allowedOrigins?: readonly string[]
  /**
   * Lets routes opt in to permessage-deflate (`compress: true`). Off by default: compression costs
   * memory and CPU per connection and has enabled attacks on secrets mixed with attacker data.
   */
  compression?: boolean
  /** Carries hub messages to other instances. Default: in-process (one instance). */
  backplane?: Backplane
  /**
   * Path of the ticket endpoint: `POST <path>` with the scheme's credentials answers
   * `{"ticket","expiresIn"}`, a single-use ticket a browser presents on the upgrade. Default: none
   * (the host may issue tickets itself with `app.tether.issueTicket()`).
   */
  ticketPath?: string
  /**
   * Refuses new upgrades with 503 `overloaded` while the process is over a memory or event-loop
   * limit, instead of taking on connections until it dies; open connections are left alone.
   * Default: on, with heap used over 90% of V8's heap limit and resident memory over 90% of the
   * memory available (the cgroup limit, else physical memory); event-loop delay off. `false`
   * turns the guard off.
   */
  pressure?: PressureOptions | false
  /**
   * The claims the host expects, as a TypeBox object schema (compiled once): every set of claims,
   * from the scheme, a ticket or `auth.refresh`, must match it after the built-in type checks, or
   * the token is refused with 401 `invalid_token`. Declare the claims policies and `authorize`
   * functions read (`Type.Object({ sub: ..., exp: ..., rooms: Type.Optional(Type.Array(Type.String())) })`),
   * and `additionalProperties: false` to refuse anything unexpected. Default: the built-in checks only.
   */
  claims?: TObject
}

/** Limits of the overload guard; each 0 turns that check off. See {@link TetherOptions.pressure}. */
export interface PressureOptions {
  /** Heap used (`process.memoryUsage().heapUsed`) above which upgrades are refused. */
  maxHeapUsedBytes?: number
  /** Resident set size above which upgrades are refused. */
  maxRssBytes?: number
  /** Mean event-loop delay over the last second above which upgrades are refused. Default 0 (off). */
  maxEventLoopDelayMs?: number
}

/** The options after defaults and validation. */
export interface ResolvedOptions {
  settings: Readonly<TetherSettings>
  auth: AuthScheme | undefined
  allowedOrigins: readonly string[] | undefined
  compression: boolean
  backplane: Backplane | undefined
  ticketPath: string | undefined
  /** Every limit of the overload guard resolved (0 = that check off); all 0 when it is off. */
  pressure: Readonly<Required<PressureOptions>>
  /** The compiled `claims` schema. */
  claimsCheck: TypeCheck<TObject> | undefined
}

// 0 disables the first three; a ticket lifetime or shutdown timeout of 0 is legal (tests use it).
const ZERO_ALLOWED = new Set<keyof TetherSettings>(['handshakeRatePerMin', 'httpRatePerMin', 'messageRatePerSec', 'heartbeatMs', 'messageTimeoutMs', 'shutdownTimeoutMs', 'ticketTtlMs'])

/** Applies {@link TETHER_DEFAULTS} and validates every option, naming the first bad one. */
export function resolveOptions (options: TetherOptions): ResolvedOptions {
  const { auth, allowedOrigins, compression = false, backplane, ticketPath, claims, pressure, ...numbers } = options
  const settings: TetherSettings = { ...TETHER_DEFAULTS }
  for (const key of Object.keys(numbers) as Array<keyof TetherSettings>) {
    if (!(key in TETHER_DEFAULTS)) throw new ConfigError(`options.${String(key)} is not a tether option`)
    const value = numbers[key]
    if (value === undefined) continue
    const min = ZERO_ALLOWED.has(key) ? 0 : 1
    if (!Number.isSafeInteger(value) || value < min) {
      throw new ConfigError(`options.${key} must be a whole number of at least ${min}, got ${String(value)}`)
    }
    settings[key] = value
  }
  if (allowedOrigins !== undefined) {
    if (!Array.isArray(allowedOrigins)) throw new ConfigError('options.allowedOrigins must be an array of origins')
    for (const origin of allowedOrigins) parseOrigin(origin, 'options.allowedOrigins')
  }
  if (typeof compression !== 'boolean') throw new ConfigError('options.compression must be true or false')
  if (auth !== undefined && (typeof auth !== 'object' || typeof auth.authenticate !== 'function')) {
    throw new ConfigError('options.auth must be an authentication scheme such as jwtAuth({ secret })')
  }
  if (ticketPath !== undefined && (typeof ticketPath !== 'string' || !ticketPath.startsWith('/'))) {
    throw new ConfigError('options.ticketPath must be a path starting with /')
  }
  if (ticketPath !== undefined && auth === undefined) {
    throw new ConfigError('options.ticketPath needs options.auth: tickets carry the claims of an authenticated user')
  }
  if (claims !== undefined && auth === undefined) throw new ConfigError('options.claims needs options.auth: it checks the claims of authenticated users')
  return { settings: Object.freeze(settings), auth, allowedOrigins, compression, backplane, ticketPath, claimsCheck: compileClaims(claims), pressure: resolvePressure(pressure) }
}

/** The default limits of the overload guard (see {@link TetherOptions.pressure}). */
export function defaultPressure (): Required<PressureOptions> {
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.() ?? 0
  const available = constrained > 0 && constrained < totalmem() ? constrained : totalmem()
  return {
    maxHeapUsedBytes: Math.floor(getHeapStatistics().heap_size_limit * 0.9),
    maxRssBytes: Math.floor(available * 0.9),
    maxEventLoopDelayMs: 0
  }
}

function resolvePressure (pressure: PressureOptions | false | undefined): Readonly<Required<PressureOptions>> {
  if (pressure === false) return Object.freeze({ maxHeapUsedBytes: 0, maxRssBytes: 0, maxEventLoopDelayMs: 0 })
  if (pressure !== undefined && (typeof pressure !== 'object' || pressure === null)) {
    throw new ConfigError('options.pressure must be an object of limits or false')
  }
  const resolved = defaultPressure()
  for (const [key, value] of Object.entries(pressure ?? {}) as Array<[string, unknown]>) {
    if (!(key in resolved)) throw new ConfigError(`options.pressure.${key} is not a pressure limit`)
    if (value === undefined) continue
    if (!Number.isSafeInteger(value) || (value as number) < 0) {
      throw new ConfigError(`options.pressure.${key} must be a whole number of at least 0, got ${String(value)}`)
    }
    resolved[key as keyof PressureOptions] = value as number
  }
  return Object.freeze(resolved)
}

function compileClaims (claims: TObject | undefined): TypeCheck<TObject> | undefined {
  if (claims === undefined) return undefined
  if (!KindGuard.IsObject(claims)) throw new ConfigError('options.claims must be a TypeBox object schema, e.g. Type.Object({ sub: Type.String(), exp: Type.Number() })')
  try {
    return TypeCompiler.Compile(claims)
  } catch (cause) {
    throw new ConfigError(`options.claims cannot be compiled: ${(cause as Error).message}`)
  }
}
