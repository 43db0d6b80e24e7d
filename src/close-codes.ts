/**
 * WebSocket close codes used by fastify-tether, named after RFC 6455 section 7.4.1
 * and the IANA "WebSocket Close Code Number Registry".
 */
export const CloseCode = Object.freeze({
  /** 1000: the purpose of the connection has been fulfilled (the handler returned). */
  Normal: 1000,
  /** 1001: the server is going away (shutdown) or the browser navigated away. */
  GoingAway: 1001,
  /** 1002: the peer broke the protocol (bad framing, unmasked client frame). */
  ProtocolError: 1002,
  /** 1003: a data type the endpoint cannot accept. */
  UnsupportedData: 1003,
  /** 1005: reserved; reported locally when a close frame carried no code. Never sent. */
  NoStatus: 1005,
  /** 1006: reserved; reported locally when the connection dropped without a close frame. Never sent. */
  Abnormal: 1006,
  /** 1007: a text message that is not valid UTF-8. */
  InvalidPayload: 1007,
  /** 1008: the peer violated a policy (rate limit, expired token, repeated invalid messages). */
  PolicyViolation: 1008,
  /** 1009: a message larger than the configured maximum payload. */
  MessageTooBig: 1009,
  /** 1011: the server hit an unexpected condition (the handler threw). */
  InternalError: 1011,
  /** 1012: the service is restarting. */
  ServiceRestart: 1012,
  /** 1013: try again later (slow consumer, overload). */
  TryAgainLater: 1013
})

/** One of the named close codes. */
export type CloseCodeValue = typeof CloseCode[keyof typeof CloseCode]

/**
 * Whether `code` may be sent in a close frame by this server.
 * RFC 6455 section 7.4: 1000-1003 and 1007-1014 are defined for use; 1004-1006 and 1015 are reserved
 * and must never be sent; 3000-4999 belong to libraries and applications.
 */
export function isSendableCloseCode (code: number): boolean {
  if (!Number.isInteger(code)) return false
  if (code >= 3000 && code <= 4999) return true
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014)
}
