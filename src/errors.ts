import { CloseCode } from './close-codes.js'

/**
 * The base of every error fastify-tether raises. `code` is stable (`TETHER_ERR_*`) and documented in
 * README.md; `statusCode` is the HTTP status a client is refused with before the upgrade, `closeCode`
 * the WebSocket close code an open connection is ended with. An error that belongs to one phase only
 * still names a sensible value for the other, so callers never branch on undefined.
 */
export class TetherError extends Error {
  /** Stable machine-readable code, `TETHER_ERR_*`. */
  readonly code: string
  /** HTTP status used when this error refuses a client before the upgrade. */
  readonly statusCode: number
  /** Close code used when this error ends an open connection. */
  readonly closeCode: number

  constructor (code: string, message: string, statusCode: number, closeCode: number, options?: ErrorOptions) {
    super(message, options)
    this.name = 'TetherError'
    this.code = code
    this.statusCode = statusCode
    this.closeCode = closeCode
  }
}

/** `send()` was called on a connection that is closing or closed. */
export class ConnectionClosedError extends TetherError {
  constructor () {
    super('TETHER_ERR_CONNECTION_CLOSED', 'the WebSocket connection is closed', 500, CloseCode.Normal)
    this.name = 'ConnectionClosedError'
  }
}

/** A plain HTTP request reached a WebSocket route. */
export class UpgradeRequiredError extends TetherError {
  constructor () {
    super('TETHER_ERR_UPGRADE_REQUIRED', 'this route only accepts WebSocket upgrades', 426, CloseCode.ProtocolError)
    this.name = 'UpgradeRequiredError'
  }
}

/** The route handler threw or rejected; the client only ever sees the generic reason. */
export class HandlerFailedError extends TetherError {
  constructor (cause: unknown) {
    super('TETHER_ERR_HANDLER_FAILED', 'internal error', 500, CloseCode.InternalError, { cause })
    this.name = 'HandlerFailedError'
  }
}

/** The server is shutting down: new upgrades are refused and open connections are closed. */
export class ShuttingDownError extends TetherError {
  constructor () {
    super('TETHER_ERR_SHUTTING_DOWN', 'server shutting down', 503, CloseCode.GoingAway)
    this.name = 'ShuttingDownError'
  }
}

/** A connection buffered more outgoing bytes than allowed and was cut off instead of growing memory. */
export class SlowConsumerError extends TetherError {
  constructor () {
    super('TETHER_ERR_SLOW_CONSUMER', 'slow consumer', 503, CloseCode.TryAgainLater)
    this.name = 'SlowConsumerError'
  }
}

/** A close code that RFC 6455 forbids sending (1004-1006, 1015, out of range). Programmer error. */
export class InvalidCloseCodeError extends TetherError {
  constructor (code: number) {
    super('TETHER_ERR_INVALID_CLOSE_CODE', `close code ${code} may not be sent (RFC 6455 section 7.4)`, 500, CloseCode.InternalError)
    this.name = 'InvalidCloseCodeError'
  }
}

/** Configuration that cannot work; the message names the variable or option. Raised at startup. */
export class ConfigError extends TetherError {
  constructor (message: string) {
    super('TETHER_ERR_CONFIG', message, 500, CloseCode.InternalError)
    this.name = 'ConfigError'
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
  'TETHER_ERR_CONFIG'
] as const)
