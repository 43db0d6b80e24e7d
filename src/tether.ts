import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, RouteOptions, RouteShorthandOptions } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import fastifyJwt from '@fastify/jwt'
import rateLimit from '@fastify/rate-limit'
import type { WebSocket } from 'ws'
import { CloseCode } from './close-codes.js'
import { DEFAULTS, type TetherSettings } from './config.js'
import { Connection, type CloseInfo, type Message, type Reauthenticate, type TopicAuthorizer } from './connection.js'
import { InProcessBackplane, type Backplane } from './hub/backplane.js'
import { Hub } from './hub/hub.js'
import { JsonMessageCodec, type MessageSchemas, type TypedMessage } from './json-messages.js'
import { TokenBucket } from './token-bucket.js'
import {
  ForbiddenError,
  HandlerFailedError,
  InvalidTokenError,
  RateLimitedError,
  ShuttingDownError,
  TetherError,
  UpgradeRequiredError
} from './errors.js'
import { Authenticator } from './security/authenticator.js'
import type { ClaimsPolicy, TokenClaims } from './security/claims.js'
import { ConnectionCounter } from './security/connection-counter.js'
import { OriginPolicy } from './security/origin-policy.js'
import { preUpgradeHook, type PreUpgradeContext } from './security/pre-upgrade.js'
import { TicketStore } from './security/ticket-store.js'

/** Options of the tether plugin; every numeric one defaults to `DEFAULTS.tether`. */
export interface TetherOptions extends Partial<TetherSettings> {
  /**
   * Origins allowed to open WebSockets (exact `scheme://host:port`). Default: this server's own
   * `https://localhost:<port>` and `https://127.0.0.1:<port>`, resolved once it listens.
   */
  allowedOrigins?: readonly string[]
  /** HS256 secret that signs and verifies tokens; required for routes with `auth`. */
  jwtSecret?: string
  /**
   * Lets routes opt in to permessage-deflate (`compress: true`). Off by default: compression costs
   * memory and CPU per connection and has enabled attacks on secrets mixed with attacker data.
   */
  compression?: boolean
  /** Carries hub messages to other instances. Default: in-process (one instance). */
  backplane?: Backplane
}

/**
 * A route handler. Its promise is the connection: when it resolves the server closes with 1000,
 * when it throws the server closes with 1011 and logs the error; the client sees neither the
 * message nor the stack.
 */
export type WsHandler<TMessage = Message> = (connection: Connection<TMessage>) => void | Promise<void>

/**
 * Options of one WebSocket route. Besides the security options below it takes Fastify's route
 * options (hooks such as `onRequest` and `preValidation`, `config`, `schema` for params and
 * querystring, `logLevel`). Every hook runs before the upgrade, after the built-in checks, so a
 * hook that replies refuses the client with an HTTP status.
 */
export interface WsRouteOptions extends Omit<RouteShorthandOptions, 'websocket' | 'handler'> {
  /**
   * Authentication, checked before the upgrade. `true` (the default): a valid token is required,
   * as a bearer header or a ticket. `{ require }`: also a claims policy, which returns true or a
   * refusal reason (403). `false`: a public route.
   */
  auth?: boolean | { require: ClaimsPolicy }
  /** Refuse upgrades without an Origin header (only browsers send one). Default false. */
  requireOrigin?: boolean
  /**
   * The JSON messages this route reads. With it, `messages()` yields parsed, validated, typed
   * messages; invalid JSON, a schema failure or an unknown type get an error frame instead, and
   * `auth.refresh` is handled by the framework on routes with auth.
   */
  messages?: MessageSchemas
  /**
   * This route's incoming message rate (token bucket), or false for none. Default: the plugin's
   * `messageRatePerSec` and `messageBurst`. Over the rate the connection is closed with 1008.
   */
  rateLimit?: { perSec: number, burst: number } | false
  /** Negotiate permessage-deflate on this route (needs the plugin's `compression`). Default false. */
  compress?: boolean
  /**
   * Who may subscribe to which hub topic on this route; `connection.subscribe(topic)` asks it
   * every time. Without it every topic is allowed.
   */
  authorizeTopic?: TopicAuthorizer
}

/** Live state of the tether plugin, decorated as `app.tether`. */
export interface TetherState {
  /** The resolved numeric settings, frozen. */
  readonly settings: Readonly<TetherSettings>
  /** Connections whose handler or socket is still running. */
  readonly connectionCount: number
  /** True from the moment the server starts closing. */
  readonly shuttingDown: boolean
  /** Upgrades refused before the upgrade, by reason (`rate_limited`, `missing_token`, ...). */
  readonly refusals: Readonly<Record<string, number>>
  /** Closes the server initiated, by close code (1006 counts terminations). */
  readonly serverCloses: Readonly<Record<string, number>>
  /** The origins allowed to open WebSockets. */
  readonly allowedOrigins: readonly string[]
  /** Verifies tokens and redeems tickets; `undefined` without `jwtSecret`. */
  readonly authenticator: Authenticator | undefined
  /**
   * Begins a graceful shutdown while the listener stays open: upgrades and /health get 503, every
   * connection is closed with 1001, handlers get `shutdownTimeoutMs`, stragglers are terminated.
   * Call it before `app.close()` (which also calls it); resolves when the connections are gone.
   */
  readonly drain: () => Promise<void>
  /**
   * Refuses a request before the upgrade the framework's way: the error's status and
   * `{"error","message"}` body, one info log line with reason and IP, a count by reason. For route
   * hooks that add their own checks (a room name, a resource the user may not open).
   */
  readonly refuse: (request: FastifyRequest, reply: FastifyReply, error: TetherError) => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Declares a WebSocket route at `path`. Pre-upgrade checks (shutdown, handshake rate, Origin,
     * auth, claims policy, connection caps, then the route's own hooks) refuse with an HTTP status;
     * the handler gets a {@link Connection} whose lifetime is the handler's promise. A plain GET
     * gets 426.
     */
    ws: (<M extends MessageSchemas>(path: string, options: WsRouteOptions & { messages: M }, handler: WsHandler<TypedMessage<M>>) => FastifyInstance) &
    ((path: string, options: WsRouteOptions, handler: WsHandler) => FastifyInstance) &
    ((path: string, handler: WsHandler) => FastifyInstance)
    /** Live state of the tether plugin. */
    tether: TetherState
    /** Topics and fan-out: `app.hub.publish(topic, message)`. */
    hub: Hub
  }
}

interface LiveConnection {
  connection: Connection<unknown>
  /** Settles when both the handler has finished and the socket has closed. */
  finished: Promise<void>
}

const tether: FastifyPluginAsync<TetherOptions> = async (app, options) => {
  const { allowedOrigins, jwtSecret, compression = false, backplane = new InProcessBackplane(), ...numbers } = options
  const settings: Readonly<TetherSettings> = Object.freeze({ ...DEFAULTS.tether, ...numbers })
  const live = new Set<LiveConnection>()
  const refusals = new Map<string, number>()
  const serverCloses = new Map<string, number>()
  const countClose = (code: number): void => { serverCloses.set(String(code), (serverCloses.get(String(code)) ?? 0) + 1) }
  let shuttingDown = false

  await app.register(websocket, {
    options: {
      maxPayload: settings.maxPayloadBytes,
      // Negotiated only on routes that opt in; the others drop the offer before the upgrade.
      // No context takeover in either direction bounds zlib memory per connection; ws checks the
      // inflated size against maxPayload, so a small frame that inflates past it gets 1009.
      perMessageDeflate: compression
        ? { serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 1024, concurrencyLimit: 10 }
        : false,
      clientTracking: false,
      closeTimeout: settings.closeTimeoutMs
    } as Record<string, unknown>,
    // ws has already answered a protocol error with the right close code (1002, 1007, 1009) and
    // the Connection logged and counted it; the default handler would terminate the socket before
    // that close frame is flushed.
    errorHandler (error, _socket, request) {
      request.log.debug({ err: { message: error.message, code: (error as NodeJS.ErrnoException).code } }, 'websocket error')
    },
    // app.close() drains too, for apps that do not call drain() first.
    async preClose () {
      await drain()
    }
  })

  // Handshake rate limit: one per-IP budget shared by every WebSocket route (not per route), and
  // only upgrade attempts count, so /health and other plain requests never use it up.
  await app.register(rateLimit, { global: false })
  const handshakeLimit = settings.handshakeRatePerMin > 0
    ? app.createRateLimit({ max: settings.handshakeRatePerMin, timeWindow: 60_000, keyGenerator: (request) => request.ip })
    : undefined

  let authenticator: Authenticator | undefined
  if (jwtSecret !== undefined) {
    await app.register(fastifyJwt, {
      secret: jwtSecret,
      sign: { algorithm: 'HS256' },
      // Pin the algorithm: `none`, HS384/HS512 and any asymmetric alg are refused, and `exp` is required.
      verify: { algorithms: ['HS256'], requiredClaims: ['exp'] }
    })
    authenticator = new Authenticator((token) => app.jwt.verify(token), new TicketStore<TokenClaims>(settings.ticketTtlMs))
  }

  const origins = new OriginPolicy(allowedOrigins ?? (() => ownOrigins(app)))
  const preUpgrade: PreUpgradeContext = {
    isShuttingDown: () => shuttingDown,
    handshakeLimit,
    origins,
    authenticator,
    perUser: new ConnectionCounter(settings.maxConnectionsPerUser),
    perIp: new ConnectionCounter(settings.maxConnectionsPerIp),
    compression,
    refuse
  }

  // One heartbeat timer for every connection, not one per connection.
  let heartbeat: NodeJS.Timeout | undefined
  if (settings.heartbeatMs > 0) {
    app.addHook('onReady', async () => {
      heartbeat = setInterval(() => {
        for (const entry of live) entry.connection.heartbeat()
      }, settings.heartbeatMs)
      heartbeat.unref()
    })
  }

  const hub = new Hub(backplane, app.log)
  app.decorate('hub', hub)
  app.addHook('onReady', async () => { await hub.start() })

  app.addHook('onClose', async () => {
    clearInterval(heartbeat)
    await hub.close()
  })

  let draining: Promise<void> | undefined
  /**
   * Stops taking WebSockets while the listener stays open (new upgrades and /health get 503, so a
   * load balancer sees the instance leave), closes every connection with 1001, gives handlers up
   * to shutdownTimeoutMs and terminates what is left. Idempotent.
   */
  function drain (): Promise<void> {
    draining ??= (async () => {
      shuttingDown = true
      const error = new ShuttingDownError()
      for (const entry of live) entry.connection.close(error.closeCode, error.message)
      await settleWithin([...live].map((entry) => entry.finished), settings.shutdownTimeoutMs)
      for (const entry of live) {
        entry.connection.request.log.warn('terminating websocket that outlived the shutdown timeout')
        entry.connection.terminate()
      }
    })()
    return draining
  }

  const state: TetherState = {
    settings,
    get connectionCount () { return live.size },
    get shuttingDown () { return shuttingDown },
    get refusals () { return Object.fromEntries(refusals) },
    get serverCloses () { return Object.fromEntries(serverCloses) },
    get allowedOrigins () { return origins.allowed },
    authenticator,
    drain,
    refuse
  }
  app.decorate('tether', state)

  /** The one way a client is refused before the upgrade: a status, a JSON body, a log line, a count. */
  async function refuse (request: FastifyRequest, reply: FastifyReply, error: TetherError): Promise<void> {
    refusals.set(error.reason, (refusals.get(error.reason) ?? 0) + 1)
    request.log.info({ reason: error.reason, ip: request.ip, statusCode: error.statusCode, route: request.routeOptions.url }, request.ws ? 'upgrade refused' : 'request refused')
    if (error instanceof RateLimitedError) reply.header('retry-after', String(error.retryAfterSeconds))
    await reply.code(error.statusCode).send(error.toResponse())
  }

  function accept (socket: WebSocket, request: FastifyRequest, handler: WsHandler<unknown>, route: CompiledRoute): void {
    const { reauthenticate, codec, rate, authorizeTopic } = route
    const connection = new Connection<unknown>(socket, request, {
      limits: settings,
      ...(reauthenticate === undefined ? {} : { reauthenticate }),
      ...(codec === undefined ? {} : { codec }),
      ...(rate === undefined ? {} : { rate: new TokenBucket(rate.perSec, rate.burst, performance.now()) }),
      maxInvalidMessages: settings.maxInvalidMessages,
      onServerClose: countClose,
      topics: { hub, authorize: authorizeTopic }
    })
    request.log.debug({ route: request.routeOptions.url, user: request.user?.sub }, 'websocket accepted')
    if (reauthenticate !== undefined) connection.expireAt(request.user.exp * 1000)
    const url = request.routeOptions.url ?? request.url
    const entry: LiveConnection = {
      connection,
      finished: Promise.all([runHandler(connection, handler), connection.closed.then((info) => logClosed(connection, url, info))]).then(() => {
        live.delete(entry)
      })
    }
    live.add(entry)
  }

  function ws (this: FastifyInstance, path: string, optionsOrHandler: WsRouteOptions | WsHandler<unknown>, maybeHandler?: WsHandler<unknown>): FastifyInstance {
    const routeOptions: WsRouteOptions = typeof optionsOrHandler === 'function' ? {} : optionsOrHandler
    const handler = typeof optionsOrHandler === 'function' ? optionsOrHandler : maybeHandler
    if (typeof handler !== 'function') {
      throw new TypeError(`app.ws('${path}') needs a handler function`)
    }
    const { auth = true, requireOrigin = false, messages, rateLimit: routeRate, compress = false, authorizeTopic, onRequest, ...fastifyOptions } = routeOptions
    if (auth !== false && authenticator === undefined) {
      throw new TypeError(`app.ws('${path}') requires authentication but the tether plugin has no jwtSecret; pass jwtSecret or declare { auth: false }`)
    }
    if (compress && !compression) {
      throw new TypeError(`app.ws('${path}') asks for compression but the tether plugin was registered without compression: true`)
    }
    const policy = typeof auth === 'object' ? auth.require : undefined
    const defaultRate = settings.messageRatePerSec > 0 ? { perSec: settings.messageRatePerSec, burst: settings.messageBurst } : undefined
    const route: CompiledRoute = {
      reauthenticate: auth === false || authenticator === undefined ? undefined : reauthenticator(authenticator, policy),
      // Schemas compile here, once, when the route is declared.
      codec: messages === undefined ? undefined : new JsonMessageCodec(messages, auth !== false),
      rate: routeRate === false ? undefined : routeRate ?? defaultRate,
      authorizeTopic
    }
    const checks = [preUpgradeHook(preUpgrade, { authRequired: auth !== false, policy, requireOrigin, compress })]
    this.route({
      ...fastifyOptions,
      method: 'GET',
      url: path,
      onRequest: [...checks, ...toArray(onRequest)],
      handler: replyUpgradeRequired,
      wsHandler: (socket: WebSocket, request: FastifyRequest) => accept(socket, request, handler, route)
    } as RouteOptions)
    return this
  }
  app.decorate('ws', ws as FastifyInstance['ws'])
}

/** What a route declared, prepared once when the route is registered. */
interface CompiledRoute {
  reauthenticate: Reauthenticate | undefined
  codec: JsonMessageCodec | undefined
  rate: { perSec: number, burst: number } | undefined
  authorizeTopic: TopicAuthorizer | undefined
}

function reauthenticator (authenticator: Authenticator, policy: ClaimsPolicy | undefined): Reauthenticate {
  return (token, current) => {
    const claims = authenticator.verify(token)
    if (claims.sub !== current.sub) throw new InvalidTokenError('the new token is for another subject')
    const verdict = policy?.(claims) ?? true
    if (verdict !== true) throw new ForbiddenError(verdict)
    return claims
  }
}

/** This server's own https origins, for the default Origin allowlist. */
function ownOrigins (app: FastifyInstance): string[] {
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return [`https://localhost:${port}`, `https://127.0.0.1:${port}`]
}

async function runHandler (connection: Connection<unknown>, handler: WsHandler<unknown>): Promise<void> {
  try {
    await handler(connection)
    connection.close(CloseCode.Normal)
  } catch (cause) {
    if (cause instanceof TetherError && connection.stats.closedBy !== null && !connection.isOpen) {
      // The connection ended under the handler (the client left, the token expired or a refresh
      // was refused, already closed with its own code): an ordinary end, not a server fault.
      connection.request.log.debug({ reason: cause.reason }, 'websocket handler stopped: the connection ended')
      return
    }
    const error = new HandlerFailedError(cause)
    connection.request.log.error({ err: cause }, 'websocket handler failed')
    connection.close(error.closeCode, error.message)
  }
}

async function replyUpgradeRequired (_request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const error = new UpgradeRequiredError()
  await reply
    .code(error.statusCode)
    .header('upgrade', 'websocket')
    .header('connection', 'Upgrade')
    .send(error.toResponse())
}

/** The one log line every finished connection gets. */
function logClosed (connection: Connection<unknown>, route: string, info: CloseInfo): void {
  const stats = connection.stats
  connection.request.log.info({
    route,
    user: connection.request.user?.sub,
    durationMs: Math.round(performance.now() - connection.openedAt),
    code: info.code,
    reason: info.reason,
    closedBy: stats.closedBy,
    messagesIn: stats.messagesIn,
    bytesIn: stats.bytesIn,
    messagesOut: stats.messagesOut,
    bytesOut: stats.bytesOut
  }, 'websocket closed')
}

function toArray<T> (value: T | T[] | undefined): T[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}

/** Resolves when every promise has settled or `timeoutMs` has passed, whichever comes first. */
async function settleWithin (promises: Array<Promise<unknown>>, timeoutMs: number): Promise<void> {
  if (promises.length === 0) return
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs) })
  await Promise.race([Promise.allSettled(promises), timeout])
  clearTimeout(timer)
}

/**
 * The fastify-tether plugin: registers @fastify/websocket with safe defaults, @fastify/rate-limit
 * for the handshake budget and @fastify/jwt (algorithm pinned to HS256) when `jwtSecret` is given;
 * decorates `app.ws(path, options, handler)` and `app.tether`; on close shuts every connection down
 * with 1001, waiting up to `shutdownTimeoutMs` for handlers before terminating what is left.
 */
export const tetherPlugin = fp(tether, { fastify: '5.x', name: 'fastify-tether' })
