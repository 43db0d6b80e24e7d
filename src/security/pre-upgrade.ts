import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Authenticator } from '../auth/authenticator.js'
import type { ClaimsPolicy } from '../auth/claims.js'
import { ForbiddenError, RateLimitedError, ShuttingDownError, TooManyConnectionsError } from '../errors.js'
import { setUser } from '../internal/request-user.js'
import type { ConnectionCounter } from './connection-counter.js'
import type { OriginPolicy } from './origin-policy.js'

/** The answer of @fastify/rate-limit's `createRateLimit()` limiter that the pipeline reads. */
export type HandshakeLimitResult =
  | { isAllowed: true }
  | { isAllowed: false, isExceeded: boolean, ttlInSeconds: number }

/** What the pre-upgrade pipeline shares across all WebSocket routes of a plugin instance. */
export interface PreUpgradeContext {
  isShuttingDown: () => boolean
  /** Counts one upgrade attempt of the request's IP; undefined when the limit is off. */
  handshakeLimit: ((request: FastifyRequest) => Promise<HandshakeLimitResult>) | undefined
  origins: OriginPolicy
  authenticator: Authenticator | undefined
  perUser: ConnectionCounter
  perIp: ConnectionCounter
  /** Whether permessage-deflate is negotiable at all (server-wide in ws). */
  compression: boolean
  /** Whether a request is an upgrade (a plain GET gets 426 from the handler instead). */
  isUpgrade: (request: FastifyRequest) => boolean
}

/** What one route asks of the pipeline. */
export interface RouteRequirements {
  authRequired: boolean
  policy: ClaimsPolicy | undefined
  requireOrigin: boolean
  compress: boolean
}

/**
 * The built-in checks of a WebSocket route, as one `onRequest` hook, in the documented order:
 * shutdown (503), handshake rate per IP (429), Origin (403), authentication (401), claims policy
 * (403), connection caps (429). Each refusal is thrown as a `TetherError`, which the route's error
 * handler answers with its HTTP status; the upgrade never happens.
 */
export function preUpgradeHook (context: PreUpgradeContext, route: RouteRequirements): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const { origins, authenticator } = context
  return async (request) => {
    if (!context.isUpgrade(request)) return // a plain GET gets 426 from the route handler
    // ws negotiates permessage-deflate server-wide; a route that did not opt in never sees the offer.
    if (context.compression && !route.compress) delete request.raw.headers['sec-websocket-extensions']
    if (context.isShuttingDown()) throw new ShuttingDownError()
    if (context.handshakeLimit !== undefined) {
      const limit = await context.handshakeLimit(request)
      if (!limit.isAllowed && limit.isExceeded) throw new RateLimitedError(limit.ttlInSeconds)
    }
    const originRefusal = origins.check(request.headers.origin, route.requireOrigin)
    if (originRefusal !== null) throw originRefusal
    let sub: string | undefined
    if (route.authRequired && authenticator !== undefined) {
      const claims = await authenticator.authenticate(request, true)
      setUser(request, claims)
      const verdict = route.policy?.(claims) ?? true
      if (verdict !== true) throw new ForbiddenError(verdict)
      sub = claims.sub
    } else {
      setUser(request, null)
    }
    acquireSlots(context, request, sub)
  }
}

/**
 * Takes a per-IP slot and, for authenticated routes, a per-user slot, released when the
 * underlying socket closes: that covers every end, including an upgrade that fails after this
 * check and a connection that never reaches a handler.
 */
function acquireSlots (context: PreUpgradeContext, request: FastifyRequest, sub: string | undefined): void {
  const { perIp, perUser } = context
  const ip = request.ip
  const socket = request.raw.socket as typeof request.raw.socket | undefined
  if (socket === undefined) return // injectWS: an in-memory stream, no socket to account for
  if (!perIp.tryAcquire(ip)) throw new TooManyConnectionsError('ip')
  if (sub !== undefined && !perUser.tryAcquire(sub)) {
    perIp.release(ip)
    throw new TooManyConnectionsError('user')
  }
  socket.once('close', () => {
    perIp.release(ip)
    if (sub !== undefined) perUser.release(sub)
  })
}
