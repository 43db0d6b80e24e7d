/**
 * What the doctor says about the two things a server answers with once TLS works: the HTTP status of
 * a refused upgrade (with the `error` of fastify-tether's `{"error","message"}` body) and the close
 * code of a connection. Plain tables, so tests and the README can check them.
 */

/** One explained close code: what it means, and whether it is a healthy way for a connection to end. */
export interface CloseCodeMeaning {
  /** The registered name (RFC 6455 section 7.4.1, IANA registry). */
  name: string
  /** What it means for the client, and what to do. */
  meaning: string
  /** Whether a connection ending with it is working as intended. */
  healthy: boolean
}

/** Close codes 1000-1015 (RFC 6455 section 7.4.1 and the IANA registry), as fastify-tether uses them. */
export const CLOSE_CODES: Readonly<Record<number, CloseCodeMeaning>> = Object.freeze({
  1000: { name: 'normal closure', meaning: 'the connection did its job and was closed cleanly', healthy: true },
  1001: { name: 'going away', meaning: 'the server is shutting down or restarting (fastify-tether sends it on shutdown, and refuses new upgrades with 503): reconnect with backoff', healthy: false },
  1002: { name: 'protocol error', meaning: 'a peer broke the WebSocket protocol (unmasked client frame, reserved bits or opcode, bad control frame): the client library or something in between mangles frames', healthy: false },
  1003: { name: 'unsupported data', meaning: 'the server cannot accept this kind of message (e.g. binary where it takes text only)', healthy: false },
  1004: { name: 'reserved', meaning: 'reserved by RFC 6455; no endpoint may send it', healthy: false },
  1005: { name: 'no status received', meaning: 'the close frame carried no code (reported locally, never sent)', healthy: true },
  1006: { name: 'abnormal closure', meaning: 'the connection dropped without a close frame (reported locally): a proxy idle timeout, a crash, a network cut, or a server that terminated it (missed heartbeat pongs)', healthy: false },
  1007: { name: 'invalid payload data', meaning: 'a text message was not valid UTF-8: send text as UTF-8, or send bytes as a binary message', healthy: false },
  1008: { name: 'policy violation', meaning: 'the server enforced a policy; its reason says which (rate limit exceeded, token expired, too many invalid messages, message timeout)', healthy: false },
  1009: { name: 'message too big', meaning: 'a message was larger than the server accepts (WS_MAX_PAYLOAD, 64 KiB by default): send smaller messages', healthy: false },
  1010: { name: 'mandatory extension', meaning: 'the client needed an extension the server did not negotiate', healthy: false },
  1011: { name: 'internal error', meaning: 'the server hit an unexpected condition (the route handler threw): the server\'s log has the error, the client only sees "internal error"', healthy: false },
  1012: { name: 'service restart', meaning: 'the service is restarting: reconnect with backoff', healthy: false },
  1013: { name: 'try again later', meaning: 'the server is overloaded or this client read too slowly (reason "slow consumer"): reconnect later, and read messages as fast as they come', healthy: false },
  1014: { name: 'bad gateway', meaning: 'a gateway or proxy got an invalid answer from the server behind it', healthy: false },
  1015: { name: 'TLS handshake failure', meaning: 'the TLS handshake failed (reported locally, never sent)', healthy: false }
})

/** The meaning of any close code: the table for 1000-1015, the ranges for the rest. */
export function explainCloseCode (code: number, reason = ''): CloseCodeMeaning {
  const known = CLOSE_CODES[code]
  const because = reason === '' ? '' : ` (reason "${reason}")`
  if (known !== undefined) return { ...known, meaning: known.meaning + because }
  if (code >= 4000 && code <= 4999) {
    return { name: 'application code', meaning: `a code this application defines for itself (4000-4999)${because}: see the service's documentation`, healthy: false }
  }
  if (code >= 3000 && code <= 3999) {
    return { name: 'registered code', meaning: `a code registered with IANA by a library or framework (3000-3999)${because}`, healthy: false }
  }
  return { name: 'invalid code', meaning: `${code} is not a valid close code (RFC 6455 section 7.4)${because}`, healthy: false }
}

/** What the doctor knows when it explains a refused upgrade. */
export interface RefusalContext {
  status: number
  /** The `error` of the JSON body, when the server sent one. */
  error?: string | undefined
  /** The `message` of the JSON body. */
  message?: string | undefined
  /** The Origin header the doctor sent, if any. */
  origin?: string | undefined
  /** Whether a token or a ticket was sent. */
  sentCredentials: boolean
  /** The Retry-After header. */
  retryAfter?: string | undefined
  /** The Location header (redirects). */
  location?: string | undefined
  /** The path asked for. */
  path: string
}

/** One explained refusal: what happened (`detail`) and the exact fix. */
export interface Explanation {
  detail: string
  fix: string
}

const PROXY_DROPPED_UPGRADE = 'something between you and the server dropped the Upgrade header (a proxy without WebSocket support): let it pass `Upgrade` and `Connection` (nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"), or connect to the server directly'

/** Explains an upgrade answered with something other than 101. */
export function explainRefusal (context: RefusalContext): Explanation {
  const { status, error, origin, path } = context
  const said = error === undefined ? `HTTP ${status}` : `HTTP ${status} ${error}${context.message === undefined ? '' : `: ${context.message}`}`
  const detail = `the upgrade was refused: ${said}`
  const retry = context.retryAfter === undefined ? 'later' : `after Retry-After: ${context.retryAfter} s`
  switch (status) {
    case 400:
      if (error === 'invalid_handshake') return { detail, fix: 'the server saw a malformed WebSocket handshake: something between you and the server rewrote the request headers (Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Protocol)' }
      return { detail, fix: `the server found the request malformed${error === undefined ? '' : ` (${error})`}: check the path parameters and query of ${path} against the route` }
    case 401:
      if (error === 'missing_token' || (error === undefined && !context.sentCredentials)) return { detail, fix: 'this route needs credentials: send --token <jwt> (sent as Authorization: Bearer) or --ticket <ticket> (sent as a Sec-WebSocket-Protocol entry)' }
      if (error === 'invalid_ticket') return { detail, fix: 'tickets are single-use and short-lived: get a new one (POST /auth/ticket) right before connecting and pass it with --ticket' }
      if (error === 'token_expired') return { detail, fix: 'the token has expired: get a fresh one and pass it with --token' }
      return { detail, fix: 'the server refused the credentials: check the token\'s signature, issuer, audience and exp/nbf against the server\'s JWT settings, or get a fresh token' }
    case 403:
      if (error === 'origin_not_allowed') {
        return {
          detail,
          fix: origin === undefined
            ? 'the server requires an Origin header: send the page\'s origin with --origin <origin>; the server\'s ALLOWED_ORIGINS must include it'
            : `the server's ALLOWED_ORIGINS must include ${origin} (or connect from an origin it already lists)`
        }
      }
      return { detail, fix: `the route's policy refused this user${error === undefined ? '' : ` (${error})`}: use an identity the route allows (claims, room membership)` }
    case 404:
      return { detail, fix: `no WebSocket is served at ${path}: check the path against the server's routes (the reference server serves /ws/echo, /ws/feed, /ws/chat/:room)` }
    case 426:
      if (error === 'unsupported_version') return { detail, fix: 'the client spoke a WebSocket version other than 13: use a current WebSocket client' }
      return { detail, fix: PROXY_DROPPED_UPGRADE }
    case 429:
      if (error === 'too_many_connections') return { detail, fix: `this user or IP already holds the most open connections the server allows: close some, or try ${retry}` }
      return { detail, fix: `too many connection attempts from this IP: try again ${retry}, and reconnect with backoff` }
    case 503:
      if (error === 'shutting_down') return { detail, fix: `the server is shutting down: try again ${retry} (reconnect with backoff)` }
      if (error === 'overloaded') return { detail, fix: `the server is over a memory or event-loop limit and refuses new connections: try again ${retry}; its operators should check its load` }
      if (error === undefined) return { detail, fix: 'a proxy or load balancer has no healthy server behind it (or the server is down): check the server and the proxy\'s upstream' }
      return { detail, fix: `the server is unavailable (${error}): try again ${retry}` }
    case 502:
    case 504:
      return { detail, fix: 'a proxy or load balancer could not reach the server behind it: check that the server runs and the proxy\'s upstream address and port' }
  }
  if (status >= 300 && status < 400) {
    return { detail: `${detail}${context.location === undefined ? '' : ` (Location: ${context.location})`}`, fix: `WebSocket clients do not follow redirects: connect to the URL it redirects to${context.location === undefined ? '' : ` (${context.location})`}; if you did not expect a redirect, ${PROXY_DROPPED_UPGRADE}` }
  }
  return { detail, fix: PROXY_DROPPED_UPGRADE }
}
