import type { IncomingMessage } from 'node:http'

/**
 * The subprotocol a client offers, next to its ticket, when it carries the ticket in
 * `Sec-WebSocket-Protocol`; the server selects it (a browser fails a handshake whose answer names no
 * protocol it offered), so the ticket itself is never echoed.
 */
export const TETHER_PROTOCOL = 'tether'

/** Prefix of the subprotocol entry that carries a ticket: `tether.ticket.<ticket>`. */
export const TICKET_PROTOCOL_PREFIX = 'tether.ticket.'

/**
 * The subprotocols a client offers to present `ticket` without putting it in the URL (as
 * Kubernetes carries bearer tokens): `new WebSocket(url, ticketProtocols(ticket))`. Browsers never
 * log the Sec-WebSocket-Protocol header, proxies rarely do, and the server removes the entry
 * before anything else reads the request.
 */
export function ticketProtocols (ticket: string, protocols: readonly string[] = []): string[] {
  return [...protocols, TETHER_PROTOCOL, TICKET_PROTOCOL_PREFIX + ticket]
}

/**
 * The query form, `ticket=<ticket>`, for clients that cannot set subprotocols. The server removes
 * it from the URL before routing, so it reaches no log line either.
 */
export function ticketQuery (ticket: string): string {
  return `ticket=${encodeURIComponent(ticket)}`
}

const kTickets = Symbol('tether.tickets')

type WithTickets = IncomingMessage & { [kTickets]?: string[] }

/**
 * Takes every ticket out of an upgrade request before it is routed or logged: `ticket` query
 * parameters (whatever the percent-encoding of the name), whose values become `[redacted]`, and
 * `tether.ticket.*` subprotocol entries, which are removed. The values are kept on the request for
 * {@link ticketsOf}.
 */
export function takeTickets (request: IncomingMessage): void {
  const tickets: string[] = []
  const url = request.url ?? '/'
  const query = url.indexOf('?')
  if (query !== -1) {
    const kept: string[] = []
    for (const pair of url.slice(query + 1).split('&')) {
      const equals = pair.indexOf('=')
      const name = decode(equals === -1 ? pair : pair.slice(0, equals))
      if (name?.toLowerCase() === 'ticket') {
        tickets.push(decode(equals === -1 ? '' : pair.slice(equals + 1)) ?? '')
        kept.push('ticket=[redacted]')
      } else {
        kept.push(pair)
      }
    }
    if (tickets.length > 0) request.url = `${url.slice(0, query)}?${kept.join('&')}`
  }
  const offered = request.headers['sec-websocket-protocol']
  if (offered !== undefined && offered.includes(TICKET_PROTOCOL_PREFIX)) {
    const kept: string[] = []
    for (const entry of offered.split(',')) {
      const protocol = entry.trim()
      if (protocol.startsWith(TICKET_PROTOCOL_PREFIX)) tickets.push(protocol.slice(TICKET_PROTOCOL_PREFIX.length))
      else if (protocol !== '') kept.push(protocol)
    }
    if (kept.length === 0) delete request.headers['sec-websocket-protocol']
    else request.headers['sec-websocket-protocol'] = kept.join(', ')
  }
  if (tickets.length > 0) (request as WithTickets)[kTickets] = tickets
}

/** The tickets {@link takeTickets} took from this request (usually none or one). */
export function ticketsOf (request: IncomingMessage): readonly string[] {
  return (request as WithTickets)[kTickets] ?? []
}

function decode (text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return undefined
  }
}
