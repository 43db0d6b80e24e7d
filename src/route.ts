import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions, preHandlerHookHandler } from 'fastify'
import type { WebSocket } from 'ws'
import type { Authenticator } from './auth/authenticator.js'
import type { ClaimsPolicy, TokenClaims } from './auth/claims.js'
import { Connection, type Reauthenticate, type TopicAuthorizer } from './connection.js'
import { ConfigError, ForbiddenError, InvalidTokenError, OverloadedError, UpgradeRequiredError } from './errors.js'
import type { TetherEventSource } from './events.js'
import type { HandshakeClock } from './internal/handshake-clock.js'
import type { Hub } from './hub/hub.js'
import { userOf } from './internal/request-user.js'
import { JsonMessageCodec } from './json-messages.js'
import { logClosed, runHandler } from './lifetime.js'
import type { TetherSettings } from './options.js'
import type { PressureGuard } from './pressure.js'
import type { Refusals } from './refusals.js'
import type { ConnectionRegistry } from './registry.js'
import { WEBSOCKET_ROUTE } from './security/handshake.js'
import { preUpgradeHook, type PreUpgradeContext } from './security/pre-upgrade.js'
import { TokenBucket } from './token-bucket.js'
import type { RouteAuthorizer, WsRouteOptions } from './types.js'
import { isUpgrade, type Upgrader } from './upgrade.js'

/** What declaring a route needs from its plugin instance. */
export interface RouteContext {
  settings: Readonly<TetherSettings>
  authenticator: Authenticator | undefined
  compression: boolean
  preUpgrade: PreUpgradeContext
  refusals: Refusals
  registry: ConnectionRegistry
  upgrader: Upgrader
  hub: Hub
  /** The overload guard, asked first on every upgrade. */
  pressure: PressureGuard
  /** The observation hook (`app.tether.events`). */
  events: TetherEventSource
  /** When each handshake started, while `connectionOpened` has listeners. */
  clock: HandshakeClock
}

type AnyHandler = (connection: Connection<unknown, never, unknown>) => unknown
type Hook = preHandlerHookHandler | preHandlerHookHandler[] | undefined

/** What a route declared, prepared once when the route is registered. */
interface CompiledRoute {
  url: string
  reauthenticate: Reauthenticate | undefined
  codec: JsonMessageCodec | undefined
  rate: { perSec: number, burst: number } | undefined
  authorizeTopic: TopicAuthorizer | undefined
  protocols: readonly string[]
}

/** Builds the `app.ws` decorator of one plugin instance. */
export function wsDecorator (context: RouteContext): (this: FastifyInstance, path: string, optionsOrHandler: unknown, maybeHandler?: unknown) => FastifyInstance {
  const { settings, authenticator, compression, refusals, upgrader } = context
  return function ws (this: FastifyInstance, path, optionsOrHandler, maybeHandler) {
    const options = (typeof optionsOrHandler === 'function' ? {} : optionsOrHandler ?? {}) as WsRouteOptions
    const handler = (typeof optionsOrHandler === 'function' ? optionsOrHandler : maybeHandler) as AnyHandler | undefined
    if (typeof path !== 'string' || !path.startsWith('/')) throw new TypeError(`app.ws() needs a path starting with /, got ${String(path)}`)
    if (typeof handler !== 'function') throw new TypeError(`app.ws('${path}') needs a handler function`)
    const {
      auth = true, authorize, requireOrigin = false, messages, messageRate, compress = false, protocols = [],
      authorizeTopic, onRequest, preHandler, errorHandler, config, ...fastifyOptions
    } = options
    if (auth !== false && authenticator === undefined) {
      throw new ConfigError(`app.ws('${path}') requires authentication but the tether plugin has no auth scheme; pass auth: jwtAuth({ secret }) (or another scheme) to the plugin, or declare { auth: false }`)
    }
    if (authorize !== undefined && auth === false) throw new ConfigError(`app.ws('${path}') has authorize but auth: false; authorize needs an authenticated user`)
    if (compress && !compression) {
      throw new ConfigError(`app.ws('${path}') asks for compression but the tether plugin was registered without compression: true`)
    }
    const policy = typeof auth === 'object' ? auth.require : undefined
    const defaultRate = settings.messageRatePerSec > 0 ? { perSec: settings.messageRatePerSec, burst: settings.messageBurst } : undefined
    const route: CompiledRoute = {
      url: path,
      reauthenticate: auth === false || authenticator === undefined ? undefined : reauthenticator(authenticator, policy, authorize as RouteAuthorizer | undefined),
      // Schemas compile here, once, when the route is declared.
      codec: messages === undefined ? undefined : new JsonMessageCodec(messages, auth !== false),
      rate: messageRate === false ? undefined : messageRate ?? defaultRate,
      authorizeTopic,
      protocols
    }
    const checks = preUpgradeHook(context.preUpgrade, { authRequired: auth !== false, policy, requireOrigin, compress })
    const authorization = authorize === undefined ? [] : [authorizeHook(authorize as RouteAuthorizer)]
    const upgradeHook = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      upgrader.upgrade(request, reply, route.protocols, (socket) => accept(context, socket, request, handler, route))
    }
    this.route({
      ...fastifyOptions,
      method: 'GET',
      url: path,
      // Upgrades to tether routes count against tether's handshake budget, not a host's global
      // @fastify/rate-limit, unless the route asks for one in its config.
      config: { rateLimit: false, ...(config as object | undefined), [WEBSOCKET_ROUTE]: true },
      onRequest: [overloadCheck(context.pressure), checks, ...toArray(onRequest as Hook)],
      // Authorization, the route's own preHandlers, then the upgrade itself: always last.
      preHandler: [...authorization, ...toArray(preHandler as Hook), upgradeHook],
      errorHandler: errorHandler ?? refusals.errorHandler,
      handler: replyUpgradeRequired
    } as RouteOptions)
    return this
  }
}

function accept (context: RouteContext, socket: WebSocket, request: FastifyRequest, handler: AnyHandler, route: CompiledRoute): void {
  const { settings, registry, hub, events } = context
  const { reauthenticate, codec, rate, authorizeTopic } = route
  // The full route pattern (with any prefix of the plugin that declared the route), never the URL.
  const pattern = request.routeOptions.url ?? route.url
  const connection: Connection<unknown, never, unknown> = new Connection<unknown, never, unknown>(socket, request, {
    limits: settings,
    ...(reauthenticate === undefined ? {} : { reauthenticate }),
    ...(codec === undefined ? {} : { codec }),
    ...(rate === undefined ? {} : { rate: new TokenBucket(rate.perSec, rate.burst, performance.now()) }),
    maxInvalidMessages: settings.maxInvalidMessages,
    onServerClose: (code, reason) => {
      registry.countClose(code)
      if (events.listening('serverClose')) events.emit('serverClose', { route: pattern, connection, code, reason })
    },
    onSlowConsumer: (bufferedBytes) => {
      if (events.listening('slowConsumer')) events.emit('slowConsumer', { route: pattern, connection, bufferedBytes })
    },
    topics: { hub, authorize: authorizeTopic }
  })
  const user = userOf(request) ?? null
  request.log.debug({ route: pattern, user: user?.sub }, 'websocket accepted')
  if (user !== null) connection.expireAt(user.exp * 1000)
  if (events.listening('connectionOpened')) {
    const start = context.clock.startOf(request.raw)
    const now = performance.now()
    events.emit('connectionOpened', {
      route: pattern,
      connection,
      handshakeSeconds: (now - (start?.at ?? now)) / 1000,
      handshakeFrom: start?.from ?? 'request'
    })
  }
  registry.add(connection, Promise.all([
    runHandler(connection, handler),
    connection.closed.then((info) => {
      logClosed(connection, pattern, info)
      if (events.listening('connectionClosed')) {
        const stats = connection.stats
        events.emit('connectionClosed', {
          route: pattern,
          connection,
          code: info.code,
          closedBy: stats.closedBy,
          durationSeconds: (performance.now() - connection.openedAt) / 1000,
          messagesIn: stats.messagesIn,
          bytesIn: stats.bytesIn,
          messagesOut: stats.messagesOut,
          bytesOut: stats.bytesOut
        })
      }
    })
  ]))
}

/**
 * Refuses an upgrade with 503 `overloaded` while the process is over a `pressure` limit: the first
 * check, so an overloaded process spends nothing more on the request. Plain requests pass (426).
 */
function overloadCheck (pressure: PressureGuard): preHandlerHookHandler {
  return async function (request) {
    if (!pressure.enabled || !isUpgrade(request)) return
    const sample = pressure.check()
    if (sample.over === null) return
    request.log.warn({ limit: sample.over, heapUsedBytes: sample.heapUsedBytes, rssBytes: sample.rssBytes, eventLoopDelayMs: sample.eventLoopDelayMs }, 'overloaded: refusing upgrades')
    throw new OverloadedError()
  } as preHandlerHookHandler
}

function authorizeHook (authorize: RouteAuthorizer): preHandlerHookHandler {
  return async function (request) {
    if (userOf(request) == null) return // a plain GET: 426 follows
    const verdict = await authorize(request as never)
    if (verdict !== true) throw new ForbiddenError(verdict)
  } as preHandlerHookHandler
}

/**
 * Re-checks a refreshed token against everything the upgrade checked: it verifies, it is for the
 * same subject, the claims policy and the route's `authorize` still allow it.
 */
function reauthenticator (authenticator: Authenticator, policy: ClaimsPolicy | undefined, authorize: RouteAuthorizer | undefined): Reauthenticate {
  return async (token, request) => {
    const claims = await authenticator.verifyToken(token)
    const current = userOf(request) as TokenClaims
    if (claims.sub !== current.sub) throw new InvalidTokenError('the new token is for another subject')
    const verdict = policy?.(claims) ?? true
    if (verdict !== true) throw new ForbiddenError(verdict)
    if (authorize !== undefined) {
      const view = Object.create(request, { user: { value: claims } }) as never
      const allowed = await authorize(view)
      if (allowed !== true) throw new ForbiddenError(allowed)
    }
    return claims
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

function toArray<T> (value: T | T[] | undefined): T[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}
