import { CloseCode } from './close-codes.js'

/**
 * The base of every error fastify-tether raises. `code` is stable (`TETHER_ERR_*`) and documented in
 * README.md; `reason` is the short public code clients see in `{"error":"<reason>"}` bodies and error
 * frames; `statusCode` is the HTTP status a client is refused with before the upgrade, `closeCode`
 * the WebSocket close code an open connection is ended with. An error that belongs to one phase
 * still names a sensible value for the other, so callers never branch on undefined.
 */
export class TetherError extends Error {
  /** Stable machine-readable code, `TETHER_ERR_*`. */
  readonly code: string
  /** Public snake_case reason, safe to show a client. */
  readonly reason: string
  /** HTTP status used when this error refuses a client before the upgrade. */
  readonly statusCode: number
  /** Close code used when this error ends an open connection. */
  readonly closeCode: number

  constructor (code: string, reason: string, message: string, statusCode: number, closeCode: number, options?: ErrorOptions) {
    super(message, options)
    this.name = 'TetherError'
    this.code = code
    this.reason = reason
    this.statusCode = statusCode
    this.closeCode = closeCode
  }

  /** The JSON body a refused client receives: the public reason and message, nothing internal. */
  toResponse (): { error: string, message: string } {
    return { error: this.reason, message: this.message }
  }
}

/** `send()` was called on a connection that is closing or closed. */
export class ConnectionClosedError extends TetherError {
  constructor () {
    super('TETHER_ERR_CONNECTION_CLOSED', 'connection_closed', 'the WebSocket connection is closed', 500, CloseCode.Normal)
    this.name = 'ConnectionClosedError'
  }
}

/** A plain HTTP request reached a WebSocket route. */
export class UpgradeRequiredError extends TetherError {
  constructor () {
    super('TETHER_ERR_UPGRADE_REQUIRED', 'upgrade_required', 'this route only accepts WebSocket upgrades', 426, CloseCode.ProtocolError)
    this.name = 'UpgradeRequiredError'
  }
}

/** The route handler threw or rejected; the client only ever sees the generic reason. */
export class HandlerFailedError extends TetherError {
  constructor (cause: unknown) {
    super('TETHER_ERR_HANDLER_FAILED', 'internal_error', 'internal error', 500, CloseCode.InternalError, { cause })
    this.name = 'HandlerFailedError'
  }
}

/** The server is shutting down: new upgrades are refused and open connections are closed. */
export class ShuttingDownError extends TetherError {
  constructor () {
    super('TETHER_ERR_SHUTTING_DOWN', 'shutting_down', 'server shutting down', 503, CloseCode.GoingAway)
    this.name = 'ShuttingDownError'
  }
}

/** A connection buffered more outgoing bytes than allowed and was cut off instead of growing memory. */
export class SlowConsumerError extends TetherError {
  constructor () {
    super('TETHER_ERR_SLOW_CONSUMER', 'slow_consumer', 'slow consumer', 503, CloseCode.TryAgainLater)
    this.name = 'SlowConsumerError'
  }
}

/** A close code that RFC 6455 forbids sending (1004-1006, 1015, out of range). Programmer error. */
export class InvalidCloseCodeError extends TetherError {
  constructor (code: number) {
    super('TETHER_ERR_INVALID_CLOSE_CODE', 'internal_error', `close code ${code} may not be sent (RFC 6455 section 7.4)`, 500, CloseCode.InternalError)
    this.name = 'InvalidCloseCodeError'
  }
}

/** Configuration that cannot work; the message names the variable or option. Raised at startup. */
export class ConfigError extends TetherError {
  constructor (message: string) {
    super('TETHER_ERR_CONFIG', 'internal_error', message, 500, CloseCode.InternalError)
    this.name = 'ConfigError'
  }
}

/** Too many upgrade attempts from one client IP in the current minute. */
export class RateLimitedError extends TetherError {
  /** Seconds until the client may try again (sent as Retry-After). */
  readonly retryAfterSeconds: number
  constructor (retryAfterSeconds: number) {
    super('TETHER_ERR_RATE_LIMITED', 'rate_limited', `too many connection attempts; retry in ${retryAfterSeconds} s`, 429, CloseCode.PolicyViolation)
    this.name = 'RateLimitedError'
    this.retryAfterSeconds = retryAfterSeconds
  }
}

/** The Origin header is present and not in the allowlist (cross-site WebSocket hijacking). */
export class OriginNotAllowedError extends TetherError {
  constructor (message = 'this origin may not open WebSocket connections here') {
    super('TETHER_ERR_ORIGIN_NOT_ALLOWED', 'origin_not_allowed', message, 403, CloseCode.PolicyViolation)
    this.name = 'OriginNotAllowedError'
  }
}

/** No bearer token and no ticket on a route that requires authentication. */
export class MissingTokenError extends TetherError {
  constructor () {
    super('TETHER_ERR_MISSING_TOKEN', 'missing_token', 'authentication required: send Authorization: Bearer <token> or ?ticket=<ticket>', 401, CloseCode.PolicyViolation)
    this.name = 'MissingTokenError'
  }
}

/** A token that failed verification: signature, algorithm, exp, nbf, or a different subject. */
export class InvalidTokenError extends TetherError {
  constructor (message = 'the token is not valid', options?: ErrorOptions) {
    super('TETHER_ERR_INVALID_TOKEN', 'invalid_token', message, 401, CloseCode.PolicyViolation, options)
    this.name = 'InvalidTokenError'
  }
}

/** A ticket that is unknown, already used or expired. */
export class InvalidTicketError extends TetherError {
  constructor () {
    super('TETHER_ERR_INVALID_TICKET', 'invalid_ticket', 'the ticket is unknown, used or expired', 401, CloseCode.PolicyViolation)
    this.name = 'InvalidTicketError'
  }
}

/** The route's claims policy refused the verified claims; `reason` is the policy's answer (e.g. mfa_required). */
export class ForbiddenError extends TetherError {
  constructor (reason: string, message = `forbidden: ${reason}`) {
    super('TETHER_ERR_FORBIDDEN', reason, message, 403, CloseCode.PolicyViolation)
    this.name = 'ForbiddenError'
  }
}

/** The user or the client IP already holds the maximum number of open connections. */
export class TooManyConnectionsError extends TetherError {
  constructor (scope: 'user' | 'ip') {
    super('TETHER_ERR_TOO_MANY_CONNECTIONS', 'too_many_connections', `too many open connections for this ${scope}`, 429, CloseCode.TryAgainLater)
    this.name = 'TooManyConnectionsError'
  }
}

/** The token of an open connection expired; the connection is closed with 1008. */
export class TokenExpiredError extends TetherError {
  constructor () {
    super('TETHER_ERR_TOKEN_EXPIRED', 'token_expired', 'token expired', 401, CloseCode.PolicyViolation)
    this.name = 'TokenExpiredError'
  }
}

/** A request a route's own check refuses as malformed; `reason` says what (e.g. invalid_room). */
export class BadRequestError extends TetherError {
  constructor (reason: string, message: string) {
    super('TETHER_ERR_BAD_REQUEST', reason, message, 400, CloseCode.PolicyViolation)
    this.name = 'BadRequestError'
  }
}

/** Every error code, for documentation checks and exhaustive handling. */
export const ERROR_CODES = Object.freeze([
  'TETHER_ERR_CONNECTION_CLOSED',
  'TETHER_ERR_UPGRADE_REQUIRED',
  'TETHER_ERR_HANDLER_FAILED',
  'TETHER_ERR_SHUTTING_DOWN',
  'TETHER_ERR_SLOW_CONSUMER',
  'TETHER_ERR_INVALID_CLOSE_CODE',
  'TETHER_ERR_CONFIG',
  'TETHER_ERR_RATE_LIMITED',
  'TETHER_ERR_ORIGIN_NOT_ALLOWED',
  'TETHER_ERR_MISSING_TOKEN',
  'TETHER_ERR_INVALID_TOKEN',
  'TETHER_ERR_INVALID_TICKET',
  'TETHER_ERR_FORBIDDEN',
  'TETHER_ERR_TOO_MANY_CONNECTIONS',
  'TETHER_ERR_TOKEN_EXPIRED',
  'TETHER_ERR_BAD_REQUEST'
] as const)
