import { CloseCode } from './close-codes.js'

/**
 * The one table of fastify-tether's errors. Each entry gives the error's class name, its public
 * snake_case reason (the `error` of refusal bodies and error frames), the HTTP status a client is
 * refused with before the upgrade, the close code an open connection is ended with, and when it
 * happens. The classes below, {@link ERROR_CODES} and the README's table are all checked against it.
 */
export const ERROR_TABLE = Object.freeze({
  TETHER_ERR_CONNECTION_CLOSED: { className: 'ConnectionClosedError', reason: 'connection_closed', statusCode: 500, closeCode: CloseCode.Normal, when: '`send()` on a closing or closed connection' },
  TETHER_ERR_UPGRADE_REQUIRED: { className: 'UpgradeRequiredError', reason: 'upgrade_required', statusCode: 426, closeCode: CloseCode.ProtocolError, when: 'a plain HTTP request to a WebSocket route' },
  TETHER_ERR_HANDLER_FAILED: { className: 'HandlerFailedError', reason: 'internal_error', statusCode: 500, closeCode: CloseCode.InternalError, when: 'the route handler or one of its hooks threw something other than a `TetherError`; the client sees only `internal error`' },
  TETHER_ERR_SHUTTING_DOWN: { className: 'ShuttingDownError', reason: 'shutting_down', statusCode: 503, closeCode: CloseCode.GoingAway, when: 'the server is shutting down' },
  TETHER_ERR_SLOW_CONSUMER: { className: 'SlowConsumerError', reason: 'slow_consumer', statusCode: 503, closeCode: CloseCode.TryAgainLater, when: 'a fan-out write found more than `maxBufferedBytes` buffered' },
  TETHER_ERR_OVERLOADED: { className: 'OverloadedError', reason: 'overloaded', statusCode: 503, closeCode: CloseCode.TryAgainLater, when: 'the process is over a `pressure` limit (heap, resident memory or event-loop delay); new upgrades are refused, open connections stay' },
  TETHER_ERR_INVALID_CLOSE_CODE: { className: 'InvalidCloseCodeError', reason: 'internal_error', statusCode: 500, closeCode: CloseCode.InternalError, when: '`close()` with a code RFC 6455 forbids sending (programming error)' },
  TETHER_ERR_CONFIG: { className: 'ConfigError', reason: 'internal_error', statusCode: 500, closeCode: CloseCode.InternalError, when: 'options that cannot work; raised at registration, names the option' },
  TETHER_ERR_RATE_LIMITED: { className: 'RateLimitedError', reason: 'rate_limited', statusCode: 429, closeCode: CloseCode.PolicyViolation, when: 'over the handshake rate, or over an HTTP endpoint\'s rate per IP or per user (with Retry-After)' },
  TETHER_ERR_ORIGIN_NOT_ALLOWED: { className: 'OriginNotAllowedError', reason: 'origin_not_allowed', statusCode: 403, closeCode: CloseCode.PolicyViolation, when: 'Origin not in the allowlist, or missing where required' },
  TETHER_ERR_MISSING_TOKEN: { className: 'MissingTokenError', reason: 'missing_token', statusCode: 401, closeCode: CloseCode.PolicyViolation, when: 'no credentials and no ticket' },
  TETHER_ERR_INVALID_TOKEN: { className: 'InvalidTokenError', reason: 'invalid_token', statusCode: 401, closeCode: CloseCode.PolicyViolation, when: 'signature, algorithm, issuer, audience, `exp`, `nbf` or claims check failed; also a refused `auth.refresh`' },
  TETHER_ERR_INVALID_TICKET: { className: 'InvalidTicketError', reason: 'invalid_ticket', statusCode: 401, closeCode: CloseCode.PolicyViolation, when: 'unknown, used or expired ticket' },
  TETHER_ERR_FORBIDDEN: { className: 'ForbiddenError', reason: 'forbidden', statusCode: 403, closeCode: CloseCode.PolicyViolation, when: 'the route\'s claims policy or `authorize` refused; the reason is theirs (`mfa_required`, `room_not_allowed`)' },
  TETHER_ERR_TOO_MANY_CONNECTIONS: { className: 'TooManyConnectionsError', reason: 'too_many_connections', statusCode: 429, closeCode: CloseCode.TryAgainLater, when: 'per-user or per-IP connection cap reached' },
  TETHER_ERR_TOKEN_EXPIRED: { className: 'TokenExpiredError', reason: 'token_expired', statusCode: 401, closeCode: CloseCode.PolicyViolation, when: 'the token of an open connection expired' },
  TETHER_ERR_BAD_REQUEST: { className: 'BadRequestError', reason: 'invalid_request', statusCode: 400, closeCode: CloseCode.PolicyViolation, when: 'params or querystring fail the route\'s schema, or a route\'s own check finds the request malformed (e.g. `invalid_room`)' },
  TETHER_ERR_INVALID_HANDSHAKE: { className: 'InvalidHandshakeError', reason: 'invalid_handshake', statusCode: 400, closeCode: CloseCode.ProtocolError, when: 'an upgrade request that is not an RFC 6455 handshake: not `GET`, not HTTP/1.1, no `Upgrade: websocket` or `Connection: Upgrade`, a missing or malformed `Sec-WebSocket-Key`, `Sec-WebSocket-Version` or subprotocol list' },
  TETHER_ERR_UNSUPPORTED_VERSION: { className: 'UnsupportedVersionError', reason: 'unsupported_version', statusCode: 426, closeCode: CloseCode.ProtocolError, when: 'a `Sec-WebSocket-Version` other than 13; the answer carries `Sec-WebSocket-Version: 13` (RFC 6455 section 4.4)' },
  TETHER_ERR_NOT_WEBSOCKET_ROUTE: { className: 'NotWebSocketRouteError', reason: 'not_websocket_route', statusCode: 404, closeCode: CloseCode.PolicyViolation, when: 'an upgrade request to a path that serves no WebSocket (a plain HTTP route such as `/health`, or no route at all)' }
} as const)

/** A stable error code, `TETHER_ERR_*`. */
export type TetherErrorCode = keyof typeof ERROR_TABLE

/** Every error code, for documentation checks and exhaustive handling. */
export const ERROR_CODES: readonly TetherErrorCode[] = Object.freeze(Object.keys(ERROR_TABLE) as TetherErrorCode[])

/** Options of a {@link TetherError}: a reason other than the table's, and the cause. */
export interface TetherErrorOptions extends ErrorOptions {
  /** The public snake_case reason, when it is more precise than the table's (e.g. `mfa_required`). */
  reason?: string
}

/**
 * The base of every error fastify-tether raises. `code` is stable (`TETHER_ERR_*`); `reason` is the
 * short public code clients see in `{"error":"<reason>"}` bodies and error frames; `statusCode` is
 * the HTTP status a client is refused with before the upgrade, `closeCode` the WebSocket close code
 * an open connection is ended with. Thrown from any hook of a WebSocket route, it refuses the upgrade
 * exactly like a built-in check: its status, its body, one log line, one count.
 */
export class TetherError extends Error {
  /** Stable machine-readable code, `TETHER_ERR_*`. */
  readonly code: TetherErrorCode
  /** Public snake_case reason, safe to show a client. */
  readonly reason: string
  /** HTTP status used when this error refuses a client before the upgrade. */
  readonly statusCode: number
  /** Close code used when this error ends an open connection. */
  readonly closeCode: number

  constructor (code: TetherErrorCode, message: string, options: TetherErrorOptions = {}) {
    const { reason, ...errorOptions } = options
    super(message, errorOptions)
    const entry = ERROR_TABLE[code]
    this.name = entry.className
    this.code = code
    this.reason = reason ?? entry.reason
    this.statusCode = entry.statusCode
    this.closeCode = entry.closeCode
  }

  /** The JSON body a refused client receives: the public reason and message, nothing internal. */
  toResponse (): { error: string, message: string } {
    return { error: this.reason, message: this.message }
  }
}

/** `send()` was called on a connection that is closing or closed. */
export class ConnectionClosedError extends TetherError {
  constructor () { super('TETHER_ERR_CONNECTION_CLOSED', 'the WebSocket connection is closed') }
}

/** A plain HTTP request reached a WebSocket route. */
export class UpgradeRequiredError extends TetherError {
  constructor () { super('TETHER_ERR_UPGRADE_REQUIRED', 'this route only accepts WebSocket upgrades') }
}

/** The route handler (or a hook) failed; the client only ever sees the generic reason. */
export class HandlerFailedError extends TetherError {
  constructor (cause: unknown) { super('TETHER_ERR_HANDLER_FAILED', 'internal error', { cause }) }
}

/** The server is shutting down: new upgrades are refused and open connections are closed. */
export class ShuttingDownError extends TetherError {
  constructor () { super('TETHER_ERR_SHUTTING_DOWN', 'server shutting down') }
}

/** A connection buffered more outgoing bytes than allowed and was cut off instead of growing memory. */
export class SlowConsumerError extends TetherError {
  constructor () { super('TETHER_ERR_SLOW_CONSUMER', 'slow consumer') }
}

/** The process is over a memory or event-loop limit: new upgrades are refused until it is not. */
export class OverloadedError extends TetherError {
  constructor () { super('TETHER_ERR_OVERLOADED', 'the server is overloaded; try again later') }
}

/** A close code that RFC 6455 forbids sending (1004-1006, 1015, out of range). Programmer error. */
export class InvalidCloseCodeError extends TetherError {
  constructor (code: number) { super('TETHER_ERR_INVALID_CLOSE_CODE', `close code ${code} may not be sent (RFC 6455 section 7.4)`) }
}

/** Options that cannot work; the message names the option or variable. Raised at startup. */
export class ConfigError extends TetherError {
  constructor (message: string) { super('TETHER_ERR_CONFIG', message) }
}

/** Too many upgrade attempts from one client IP in the current minute, or too many requests to a limited HTTP endpoint. */
export class RateLimitedError extends TetherError {
  /** Seconds until the client may try again (sent as Retry-After). */
  readonly retryAfterSeconds: number
  constructor (retryAfterSeconds: number, message = `too many connection attempts; retry in ${retryAfterSeconds} s`) {
    super('TETHER_ERR_RATE_LIMITED', message)
    this.retryAfterSeconds = retryAfterSeconds
  }
}

/** The Origin header is present and not in the allowlist (cross-site WebSocket hijacking). */
export class OriginNotAllowedError extends TetherError {
  constructor (message = 'this origin may not open WebSocket connections here') { super('TETHER_ERR_ORIGIN_NOT_ALLOWED', message) }
}

/** No credentials and no ticket on a route that requires authentication. */
export class MissingTokenError extends TetherError {
  constructor (message = 'authentication required: send Authorization: Bearer <token> or ?ticket=<ticket>') { super('TETHER_ERR_MISSING_TOKEN', message) }
}

/** Credentials that failed verification: signature, algorithm, issuer, audience, exp, nbf, claims. */
export class InvalidTokenError extends TetherError {
  constructor (message = 'the token is not valid', options?: ErrorOptions) { super('TETHER_ERR_INVALID_TOKEN', message, options) }
}

/** A ticket that is unknown, already used or expired. */
export class InvalidTicketError extends TetherError {
  constructor () { super('TETHER_ERR_INVALID_TICKET', 'the ticket is unknown, used or expired') }
}

/** A claims policy or a route's `authorize` refused; `reason` is theirs (e.g. mfa_required). */
export class ForbiddenError extends TetherError {
  constructor (reason: string, message = `forbidden: ${reason}`) { super('TETHER_ERR_FORBIDDEN', message, { reason }) }
}

/** The user or the client IP already holds the maximum number of open connections. */
export class TooManyConnectionsError extends TetherError {
  constructor (scope: 'user' | 'ip') { super('TETHER_ERR_TOO_MANY_CONNECTIONS', `too many open connections for this ${scope}`) }
}

/** The token of an open connection expired; the connection is closed with 1008. */
export class TokenExpiredError extends TetherError {
  constructor () { super('TETHER_ERR_TOKEN_EXPIRED', 'token expired') }
}

/** A malformed request; `reason` says what (`invalid_request` by default, e.g. `invalid_room`). */
export class BadRequestError extends TetherError {
  constructor (reason: string, message: string) { super('TETHER_ERR_BAD_REQUEST', message, { reason }) }
}

/** An upgrade request that is not a valid RFC 6455 opening handshake; the message says which part. */
export class InvalidHandshakeError extends TetherError {
  constructor (message: string) { super('TETHER_ERR_INVALID_HANDSHAKE', message) }
}

/** A WebSocket protocol version other than 13: answered 426 with `Sec-WebSocket-Version: 13`. */
export class UnsupportedVersionError extends TetherError {
  /** The versions this server speaks, for the `Sec-WebSocket-Version` header of the answer. */
  readonly supportedVersions = '13'
  constructor () { super('TETHER_ERR_UNSUPPORTED_VERSION', 'unsupported WebSocket version; this server speaks version 13') }
}

/** An upgrade request to a route that is not a WebSocket route (or to no route). */
export class NotWebSocketRouteError extends TetherError {
  constructor () { super('TETHER_ERR_NOT_WEBSOCKET_ROUTE', 'no WebSocket is served at this path') }
}
