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
const kSpent = Symbol('tether.spentTickets')

type WithTickets = IncomingMessage & { [kTickets]?: string[], [kSpent]?: Map<string, unknown> }

/**
 * Takes every ticket out of an upgrade request before it is routed or logged: `ticket` query
 * parameters (whatever the percent-encoding of the name), whose values become `[redacted]`, and
 * `tether.ticket.*` subprotocol entries, which are removed. The values are kept on the request for
 * {@link ticketsOf}.
 */
export function takeTickets (request: IncomingMessage): void {
  const found = findTickets(request)
  if (found.tickets.length === 0) return
  if (found.url !== undefined) request.url = found.url
  if (found.protocols === '') delete request.headers['sec-websocket-protocol']
  else if (found.protocols !== undefined) request.headers['sec-websocket-protocol'] = found.protocols
  const withTickets: WithTickets = request
  withTickets[kTickets] = found.tickets
}

/**
 * Every ticket-shaped value a request carries, read liberally and without changing the request, for
 * burning: `ticket` parameters whatever their encoding, case or decoration (`TICKET`, `tick%65t`,
 * `ticket[]`), split at `&`, `;`, `?` and `#` alike, and `tether.ticket.*` subprotocol entries.
 * Some of these are no ticket to {@link takeTickets} (which reads the query as Fastify does), but
 * they have been sent, so they may have leaked.
 */
export function leakedTickets (request: IncomingMessage): string[] {
  const tickets: string[] = []
  const url = request.url ?? '/'
  const query = url.indexOf('?')
  if (query !== -1) {
    for (const pair of url.slice(query + 1).split(/[&;?#]/)) {
      const equals = pair.indexOf('=')
      if (equals === -1) continue
      const name = decode(pair.slice(0, equals))?.toLowerCase().replace(/[^a-z0-9]/g, '')
      const value = decode(pair.slice(equals + 1)) ?? pair.slice(equals + 1)
      if (name === 'ticket' && value !== '' && value !== '[redacted]') tickets.push(value)
    }
  }
  const offered = request.headers['sec-websocket-protocol']
  if (offered !== undefined && offered.includes(TICKET_PROTOCOL_PREFIX)) {
    for (const entry of offered.split(',')) {
      const protocol = entry.trim()
      if (protocol.startsWith(TICKET_PROTOCOL_PREFIX)) tickets.push(protocol.slice(TICKET_PROTOCOL_PREFIX.length))
    }
  }
  return tickets
}

/** The tickets {@link takeTickets} took from this request (usually none or one). */
export function ticketsOf (request: IncomingMessage): readonly string[] {
  return (request as WithTickets)[kTickets] ?? []
}

/**
 * Spends every ticket {@link takeTickets} took from an upgrade request at once, whatever becomes
 * of the request (refused, 404, a route that is not a WebSocket route, a valid token next to it):
 * a ticket that was sent is single-use even if it was never needed. What `redeem` answered for each
 * is kept for {@link spentTicket}.
 */
export function spendTickets<T> (request: IncomingMessage, redeem: (ticket: string) => T | null): void {
  const tickets = ticketsOf(request)
  if (tickets.length === 0) return
  const spent = new Map<string, T | null>()
  for (const ticket of tickets) {
    if (!spent.has(ticket)) spent.set(ticket, redeem(ticket))
  }
  const withSpent: WithTickets = request
  withSpent[kSpent] = spent
}

/** What redeeming `ticket` gave when {@link spendTickets} spent it; undefined if it was not spent there. */
export function spentTicket<T> (request: IncomingMessage, ticket: string): T | null | undefined {
  const spent = (request as WithTickets)[kSpent] as Map<string, T | null> | undefined
  return spent?.has(ticket) === true ? spent.get(ticket) ?? null : undefined
}

interface FoundTickets {
  tickets: string[]
  /** The URL with ticket values redacted, when it had any. */
  url: string | undefined
  /** The subprotocol header without ticket entries ('' for none left), when it had any. */
  protocols: string | undefined
}

function findTickets (request: IncomingMessage): FoundTickets {
  const tickets: string[] = []
  let url: string | undefined
  let protocols: string | undefined
  const raw = request.url ?? '/'
  const query = raw.indexOf('?')
  if (query !== -1) {
    const kept: string[] = []
    let found = false
    for (const pair of raw.slice(query + 1).split('&')) {
      const equals = pair.indexOf('=')
      const name = decode(equals === -1 ? pair : pair.slice(0, equals))
      if (name?.toLowerCase() === 'ticket') {
        tickets.push(decode(equals === -1 ? '' : pair.slice(equals + 1)) ?? '')
        kept.push('ticket=[redacted]')
        found = true
      } else {
        kept.push(pair)
      }
    }
    if (found) url = `${raw.slice(0, query)}?${kept.join('&')}`
  }
  const offered = request.headers['sec-websocket-protocol']
  if (offered !== undefined && offered.includes(TICKET_PROTOCOL_PREFIX)) {
    const kept: string[] = []
    for (const entry of offered.split(',')) {
      const protocol = entry.trim()
      if (protocol.startsWith(TICKET_PROTOCOL_PREFIX)) tickets.push(protocol.slice(TICKET_PROTOCOL_PREFIX.length))
      else if (protocol !== '') kept.push(protocol)
    }
    protocols = kept.join(', ')
  }
  return { tickets, url, protocols }
}

function decode (text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return undefined
  }
}
