import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { BadRequestError, HandlerFailedError, RateLimitedError, TetherError, UnsupportedVersionError } from './errors.js'
import type { TetherEventSource } from './events.js'
import { upgradeStreamOf } from './internal/ws-internals.js'
import { redactText } from './logging.js'

/**
 * The one way a client is refused: the error's status and `{"error","message"}` body, one info log
 * line with reason, IP and route, and a count by reason.
 */
export class Refusals {
  readonly #counts = new Map<string, number>()
  readonly #events: TetherEventSource | undefined

  constructor (events?: TetherEventSource) {
    this.#events = events
  }

  /** Refusals so far, by reason. */
  get counts (): Readonly<Record<string, number>> {
    return Object.fromEntries(this.#counts)
  }

  /** Answers, logs and counts one refusal. */
  readonly refuse = async (request: FastifyRequest, reply: FastifyReply, error: TetherError): Promise<void> => {
    this.#counts.set(error.reason, (this.#counts.get(error.reason) ?? 0) + 1)
    if (this.#events?.listening('refusal') === true) {
      this.#events.emit('refusal', { reason: error.reason, statusCode: error.statusCode, route: request.routeOptions.url })
    }
    // route is the matched pattern (`/ws/chat/:room`), never the raw URL: undefined when no route matched.
    request.log.info({ reason: error.reason, ip: request.ip, statusCode: error.statusCode, route: request.routeOptions.url, origin: loggableOrigin(request.headers.origin) }, upgradeStreamOf(request.raw) === undefined ? 'request refused' : 'upgrade refused')
    if (error instanceof RateLimitedError) reply.header('retry-after', String(error.retryAfterSeconds))
    if (error instanceof UnsupportedVersionError) reply.header('sec-websocket-version', error.supportedVersions)
    await reply.code(error.statusCode).send(error.toResponse())
  }

  /**
   * The error handler of every WebSocket route: a `TetherError` thrown from any of its hooks is
   * refused like a built-in check, a schema failure is a 400 `invalid_request`, an error with a
   * client status (4xx) from another plugin's hook, such as the 429 of a route's own
   * `config.rateLimit`, goes on to the host's error handler as on any other route, and anything
   * else is logged and answered with a bare 500 (no message, no stack).
   */
  readonly errorHandler = async (error: FastifyError, request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (error instanceof TetherError) return await this.refuse(request, reply, error)
    if (error.validation !== undefined) {
      return await this.refuse(request, reply, new BadRequestError('invalid_request', `${error.validationContext ?? 'request'} ${error.validation[0]?.message ?? 'is not valid'}`))
    }
    if (isClientError(error)) throw error
    request.log.error({ err: error }, 'websocket route hook failed')
    const failure = new HandlerFailedError(error)
    await reply.code(failure.statusCode).send(failure.toResponse())
  }
}

/** An error another plugin raised for the client (its `statusCode` is 4xx), not a server fault. */
function isClientError (error: FastifyError): boolean {
  const status = error.statusCode
  return typeof status === 'number' && status >= 400 && status < 500
}

/** Longest Origin a refusal line carries, in characters; a longer one is cut and ends with `…`. */
export const MAX_LOGGED_ORIGIN = 200

/** Control characters (C0, DEL, C1), format characters (bidi overrides, zero-width) and line separators. */
const UNSAFE_CHARACTERS = /[\p{Cc}\p{Cf}\u2028\u2029]/gu

/**
 * The Origin header as a log field: it is whatever the client sent, so control and format
 * characters are removed (no forged lines or terminal escapes), anything shaped like a credential
 * is redacted, and it is cut to {@link MAX_LOGGED_ORIGIN} characters.
 */
export function loggableOrigin (origin: string | string[] | undefined): string | undefined {
  if (origin === undefined) return undefined
  const text = redactText((Array.isArray(origin) ? origin.join(', ') : origin).replace(UNSAFE_CHARACTERS, ''))
  const characters = Array.from(text)
  return characters.length <= MAX_LOGGED_ORIGIN ? text : `${characters.slice(0, MAX_LOGGED_ORIGIN).join('')}…`
}
