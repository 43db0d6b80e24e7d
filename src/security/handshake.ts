import type { IncomingMessage } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { InvalidHandshakeError, NotWebSocketRouteError, UnsupportedVersionError, type TetherError } from '../errors.js'
import { upgradeStreamOf } from '../internal/ws-internals.js'

/** What ws accepts as a Sec-WebSocket-Key: base64 of exactly 16 bytes (RFC 6455 section 4.1). */
const KEY = /^[+/0-9A-Za-z]{22}==$/
/** An HTTP token (RFC 9110 section 5.6.2): what a subprotocol name must be. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * Checks that an upgrade request is an RFC 6455 opening handshake that ws will complete: GET,
 * HTTP/1.1 or later, `Upgrade: websocket`, `Connection: Upgrade`, a 16-byte base64
 * `Sec-WebSocket-Key`, version 13 and a well-formed subprotocol list. Returns the refusal, or null.
 * It runs before every other check so that nothing is spent (a handshake budget slot, a ticket) on
 * a request that could never become a WebSocket; it reads only the raw request, so the front door
 * ('upgrade' listener) can ask it too.
 */
export function handshakeError (raw: IncomingMessage): TetherError | null {
  const headers = raw.headers
  if (raw.method !== 'GET') return new InvalidHandshakeError('a WebSocket handshake must be a GET request')
  if (raw.httpVersionMajor < 1 || (raw.httpVersionMajor === 1 && raw.httpVersionMinor < 1)) {
    return new InvalidHandshakeError('a WebSocket handshake needs HTTP/1.1')
  }
  if (headers.upgrade?.trim().toLowerCase() !== 'websocket') return new InvalidHandshakeError('the Upgrade header must be websocket')
  const connection = (headers.connection ?? '').toLowerCase().split(',').map((token) => token.trim())
  if (!connection.includes('upgrade')) return new InvalidHandshakeError('the Connection header must include Upgrade')
  const key = headers['sec-websocket-key']
  if (typeof key !== 'string' || !KEY.test(key)) return new InvalidHandshakeError('Sec-WebSocket-Key must be 16 bytes in base64')
  const version = headers['sec-websocket-version']
  if (version === undefined || version.trim() === '') return new InvalidHandshakeError('Sec-WebSocket-Version is missing')
  if (version.trim() !== '13') return new UnsupportedVersionError()
  const protocols = headers['sec-websocket-protocol']
  if (protocols !== undefined && !validProtocolList(protocols)) return new InvalidHandshakeError('Sec-WebSocket-Protocol must be a list of distinct tokens')
  return null
}

function validProtocolList (value: string): boolean {
  const seen = new Set<string>()
  for (const entry of value.split(',')) {
    const protocol = entry.trim()
    if (!TOKEN.test(protocol) || seen.has(protocol)) return false
    seen.add(protocol)
  }
  return true
}

/**
 * The key of the mark every route declared after tether carries in its config: true for a
 * WebSocket route (tether's own set it themselves), false for any other.
 */
export const WEBSOCKET_ROUTE = Symbol('tether.websocketRoute')

/**
 * Marks each route declared from now on in the route's config: a WebSocket route
 * (@fastify/websocket's `websocket: true` or `wsHandler`, tether's) or not.
 */
export function onRouteMarker (routeOptions: RouteOptions & { websocket?: boolean, wsHandler?: unknown }): void {
  const config = (routeOptions.config ?? {}) as Record<symbol, unknown>
  if (config[WEBSOCKET_ROUTE] !== undefined) return
  const websocket = routeOptions.websocket === true || typeof routeOptions.wsHandler === 'function'
  routeOptions.config = { ...routeOptions.config, [WEBSOCKET_ROUTE]: websocket } as RouteOptions['config']
}

/**
 * Whether the route a request matched serves WebSockets. Routes declared after tether carry the
 * mark of {@link onRouteMarker}. A route declared before tether has none; it is a WebSocket route
 * only if @fastify/websocket made it one with `websocket: true`, which hides it from the schema
 * (`schema.hide`), the one trace that option leaves on the route.
 */
export function isWebSocketRoute (request: FastifyRequest): boolean {
  const options = request.routeOptions as unknown as { config?: Record<symbol, unknown>, schema?: { hide?: unknown } } | undefined
  const mark = options?.config?.[WEBSOCKET_ROUTE]
  if (typeof mark === 'boolean') return mark
  if (request.is404) return false
  return options?.schema?.hide === true
}

/**
 * tether's first check of every upgrade request, whatever route it matched, as a global
 * `onRequest` hook: the handshake must be valid (400, or 426 for another version) and the route a
 * WebSocket route (404). Without it an upgrade to a plain route such as `/health` gets
 * @fastify/websocket's 101 and an immediate close, having skipped every check of tether's routes.
 * Refusals go through `refuse` (tether's body, one log line, a count) whatever the route's error
 * handler is.
 */
export function upgradeGate (refuse: (request: FastifyRequest, reply: FastifyReply, error: TetherError) => Promise<void>): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  return async (request, reply) => {
    if (upgradeStreamOf(request.raw) === undefined) return undefined
    const error = handshakeError(request.raw) ?? (isWebSocketRoute(request) ? null : new NotWebSocketRouteError())
    if (error === null) return undefined
    await refuse(request, reply, error)
    return reply
  }
}

/** The gate's hooks on an instance: route marking from now on, the global onRequest check. */
export function installUpgradeGate (app: FastifyInstance, refuse: Parameters<typeof upgradeGate>[0]): void {
  app.addHook('onRoute', onRouteMarker)
  app.addHook('onRequest', upgradeGate(refuse))
}
