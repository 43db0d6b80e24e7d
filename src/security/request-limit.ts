import type { FastifyReply, FastifyRequest } from 'fastify'
import { RateLimitedError, type TetherError } from '../errors.js'
import { userOf } from '../internal/request-user.js'
import type { HandshakeLimitResult } from './pre-upgrade.js'

/** A limiter as @fastify/rate-limit's `createRateLimit()` makes it: counts one request, answers. */
export type Limiter = (request: FastifyRequest) => Promise<HandshakeLimitResult>

/** Makes a limiter of `max` requests a minute keyed by `key(request)`. */
export type LimiterFactory = (max: number, key: (request: FastifyRequest) => string) => Limiter

/** A hook that refuses the request when over its budget, or lets it through. */
export type LimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>

/**
 * The budgets of one HTTP endpoint that mints, pushes or authenticates: a number of requests a
 * minute per client IP and per user. Over either, the client gets 429 `rate_limited` with
 * Retry-After and tether's JSON body, logged and counted like every refusal.
 */
export interface RequestRateLimit {
  /** Requests a minute per client IP and per user; 0 means the hooks let everything through. */
  readonly perMin: number
  /**
   * The per-IP budget, as an `onRequest` hook: it counts every request, before authentication, so
   * failed authentications are limited too.
   */
  readonly byAddress: LimitHook
  /**
   * The per-user budget (`request.user.sub`), as a `preHandler` placed after the authentication
   * (`httpAuth`); a request without a user passes.
   */
  readonly byUser: LimitHook
}

/** Builds the two hooks of {@link RequestRateLimit} for the endpoint `name`. */
export function requestRateLimit (name: string, perMin: number, limiter: LimiterFactory | undefined, refuse: (request: FastifyRequest, reply: FastifyReply, error: TetherError) => Promise<void>): RequestRateLimit {
  if (perMin <= 0 || limiter === undefined) {
    const pass: LimitHook = async () => undefined
    return { perMin: 0, byAddress: pass, byUser: pass }
  }
  const address = limiter(perMin, (request) => `tether-http|${name}|ip|${request.ip}`)
  const user = limiter(perMin, (request) => `tether-http|${name}|user|${userOf(request)?.sub ?? ''}`)
  const hook = (limit: Limiter, applies: (request: FastifyRequest) => boolean): LimitHook => async (request, reply) => {
    if (reply.sent || !applies(request)) return undefined
    const result = await limit(request)
    if (result.isAllowed || !result.isExceeded) return undefined
    await refuse(request, reply, new RateLimitedError(result.ttlInSeconds, `too many requests; retry in ${result.ttlInSeconds} s`))
    return reply
  }
  return {
    perMin,
    byAddress: hook(address, () => true),
    byUser: hook(user, (request) => typeof userOf(request)?.sub === 'string')
  }
}
