import type { IncomingMessage } from 'node:http'
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import rateLimit from '@fastify/rate-limit'
import { Authenticator } from './auth/authenticator.js'
import type { TokenClaims } from './auth/claims.js'
import { ConfigError } from './errors.js'
import { httpAuth } from './auth/http-auth.js'
import { takeTickets } from './auth/ticket-transport.js'
import { InProcessBackplane } from './hub/backplane.js'
import { Hub } from './hub/hub.js'
import { userOf } from './internal/request-user.js'
import { protocolCloseCode } from './internal/ws-internals.js'
import { HandshakeClock } from './internal/handshake-clock.js'
import { TetherEventSource } from './events.js'
import { resolveOptions, type TetherOptions } from './options.js'
import { PressureGuard } from './pressure.js'
import { readinessOf, type ReadinessOptions } from './readiness.js'
import { Refusals } from './refusals.js'
import { ConnectionRegistry } from './registry.js'
import { wsDecorator } from './route.js'
import { ConnectionCounter } from './security/connection-counter.js'
import { handshakeError, installUpgradeGate } from './security/handshake.js'
import { requestRateLimit, type LimiterFactory } from './security/request-limit.js'
import { OriginPolicy } from './security/origin-policy.js'
import type { HandshakeLimitResult } from './security/pre-upgrade.js'
import type { TetherState, WsDecorator } from './types.js'
import { isUpgrade, Upgrader } from './upgrade.js'

const tether: FastifyPluginAsync<TetherOptions> = async (app, options) => {
  const { settings, auth, allowedOrigins, compression, backplane = new InProcessBackplane(), ticketPath, claimsCheck, pressure } = resolveOptions(options)
  await auth?.setup?.(app)
  // The observation hook (app.tether.events); handshakes are timed only while someone listens.
  const events = new TetherEventSource(app.log)
  const clock = new HandshakeClock(() => events.listening('connectionOpened'))
  const authenticator = auth === undefined ? undefined : new Authenticator(auth, settings.ticketTtlMs, { schema: claimsCheck, maxLifetimeS: settings.maxTokenLifetimeS })

  // Tickets leave the URL and the subprotocol header before anything routes or logs the request,
  // and are spent there, whatever becomes of the request (refused, 404, not a WebSocket route).
  // A malformed handshake (refused 400/426 before any check, see security/handshake.ts) spends none:
  // it can never complete, and the client retries with the same ticket.
  const front = (request: IncomingMessage): void => {
    clock.arrived(request)
    takeTickets(request)
    if (handshakeError(request) === null) authenticator?.spendTickets(request, true)
  }
  const plainFront = (request: IncomingMessage): void => {
    clock.arrived(request)
    authenticator?.spendTickets(request, false)
  }
  app.server.prependListener('upgrade', front)
  app.server.prependListener('request', plainFront)
  const uninstallClock = clock.install(app.server)
  app.addHook('onClose', async () => {
    app.server.removeListener('upgrade', front)
    app.server.removeListener('request', plainFront)
    uninstallClock()
  })

  await ensureUpgradeDispatch(app, settings.maxPayloadBytes)
  const limiter = await rateLimiter(app, settings.handshakeRatePerMin > 0 || settings.httpRatePerMin > 0)
  const handshakeLimit = settings.handshakeRatePerMin > 0 ? limiter?.(settings.handshakeRatePerMin, (request) => `tether-handshake|${request.ip}`) : undefined

  const refusals = new Refusals(events)
  // Every upgrade request, to any route: a valid handshake (400/426) to a WebSocket route (404).
  installUpgradeGate(app, refusals.refuse)
  const registry = new ConnectionRegistry(settings.shutdownTimeoutMs)
  const upgrader = new Upgrader(settings, compression)
  const origins = new OriginPolicy(allowedOrigins ?? (() => ownOrigins(app)))
  const hub = new Hub(backplane, app.log, events)
  const pressureGuard = new PressureGuard(pressure)

  let started = false
  app.addHook('onReady', async () => {
    registry.startHeartbeat(settings.heartbeatMs)
    registry.startMessageSweep(settings.messageTimeoutMs)
    await hub.start()
    started = true
  })
  // app.close() drains too, for apps that do not call drain() first.
  app.addHook('preClose', async () => { await registry.drain() })
  app.addHook('onClose', async () => {
    registry.stopHeartbeat()
    pressureGuard.close()
    upgrader.close()
    await hub.close()
  })

  const requireAuth = (): Authenticator => {
    if (authenticator === undefined) throw new TypeError('the tether plugin has no auth scheme; pass auth: jwtAuth({ secret }) or another scheme')
    return authenticator
  }
  const state: TetherState = {
    settings,
    events,
    get connectionCount () { return registry.size },
    get shuttingDown () { return registry.draining },
    get refusals () { return refusals.counts },
    get serverCloses () { return registry.serverCloses },
    get allowedOrigins () { return origins.allowed },
    drain: () => registry.drain(),
    readiness: (options?: ReadinessOptions) => readinessOf({
      started: started && app.server.listening,
      draining: registry.draining,
      backplaneConnected: hub.backplane.connected
    }, options),
    refuse: refusals.refuse,
    authenticate: async (request: FastifyRequest) => await requireAuth().authenticate(request, false),
    issueTicket: (claims: TokenClaims) => requireAuth().issueTicket(claims),
    rateLimit: (name: string, perMin = settings.httpRatePerMin) => {
      if (perMin > 0 && limiter === undefined) {
        throw new ConfigError(`app.tether.rateLimit('${name}', ${perMin}) needs @fastify/rate-limit: register it before tether, or give tether a handshakeRatePerMin or httpRatePerMin above 0`)
      }
      return requestRateLimit(name, perMin, limiter, refusals.refuse)
    }
  }
  app.decorate('tether', state)
  app.decorate('hub', hub)
  app.decorate('ws', wsDecorator({
    settings,
    authenticator,
    compression,
    refusals,
    registry,
    upgrader,
    hub,
    pressure: pressureGuard,
    events,
    clock,
    preUpgrade: {
      isShuttingDown: () => registry.draining,
      handshakeLimit,
      origins,
      authenticator,
      perUser: new ConnectionCounter(settings.maxConnectionsPerUser),
      perIp: new ConnectionCounter(settings.maxConnectionsPerIp),
      compression,
      isUpgrade
    }
  }) as unknown as WsDecorator<FastifyInstance>)

  if (ticketPath !== undefined) {
    // Per IP before authentication (failed attempts count), per user after it.
    const limit = state.rateLimit('ticket')
    app.post(ticketPath, { onRequest: limit.byAddress, preHandler: [httpAuth(app), limit.byUser], config: { rateLimit: false } }, async (request) => {
      return state.issueTicket(userOf(request) as TokenClaims)
    })
  }
}

/**
 * Upgrade requests reach the router through @fastify/websocket's 'upgrade' listener. A host that
 * registered @fastify/websocket keeps it (and its own routes keep its limits); otherwise tether
 * registers it, with tether's payload limit for any host route that uses it later.
 */
async function ensureUpgradeDispatch (app: FastifyInstance, maxPayloadBytes: number): Promise<void> {
  if (app.hasDecorator('websocketServer')) return
  await app.register(websocket, {
    options: { maxPayload: maxPayloadBytes, perMessageDeflate: false, clientTracking: false },
    // A protocol error on a host route's socket: ws has already answered with the right close code.
    errorHandler (error, socket, request) {
      request.log.debug({ err: { message: error.message, code: protocolCloseCode(error) } }, 'websocket error')
      if (protocolCloseCode(error) === undefined) socket.terminate()
    }
  })
}

/**
 * @fastify/rate-limit's limiter factory, from the host's registration when it has one (each
 * limiter with a store of its own), else from a registration of tether's with `global: false`;
 * undefined when nothing needs it. The handshake budget (per client IP, shared by every tether
 * route, counted only for upgrade attempts) and the HTTP endpoints' budgets are made from it.
 */
async function rateLimiter (app: FastifyInstance, needed: boolean): Promise<LimiterFactory | undefined> {
  if (!needed && !app.hasDecorator('createRateLimit')) return undefined
  if (!app.hasDecorator('createRateLimit')) await app.register(rateLimit, { global: false })
  return (max, key) => app.createRateLimit({ max, timeWindow: 60_000, keyGenerator: key }) as (request: FastifyRequest) => Promise<HandshakeLimitResult>
}

/** This server's own https origins, for the default Origin allowlist. */
function ownOrigins (app: FastifyInstance): string[] {
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return [`https://localhost:${port}`, `https://127.0.0.1:${port}`]
}

/**
 * The fastify-tether plugin. Registers what it needs only when the host has not already (the
 * upgrade dispatch of @fastify/websocket, @fastify/rate-limit's limiter), decorates `app.ws(path,
 * options, handler)`, `app.tether` and `app.hub`, and on close shuts every connection down with
 * 1001, waiting up to `shutdownTimeoutMs` for handlers before terminating what is left.
 */
export const tetherPlugin = fp(tether, { fastify: '5.x', name: 'fastify-tether' })
