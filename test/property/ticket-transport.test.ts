// Property tests of ticket extraction (src/auth/ticket-transport.ts): for arbitrary URLs and
// Sec-WebSocket-Protocol headers, takeTickets never throws, finds every ticket, and leaves no
// ticket value in the rewritten URL or header.
import type { IncomingMessage } from 'node:http'
import fc from 'fast-check'
import t from 'tap'
import { takeTickets, ticketsOf, TICKET_PROTOCOL_PREFIX } from '../../src/auth/ticket-transport.js'

const MARK = 'TKT' // every generated ticket starts with it; nothing else contains it

function fakeRequest (url: string, protocol: string | undefined): IncomingMessage {
  return { url, headers: protocol === undefined ? {} : { 'sec-websocket-protocol': protocol } } as unknown as IncomingMessage
}

function decodeLoose (text: string): string {
  try { return decodeURIComponent(text.replace(/\+/g, ' ')) } catch { return text }
}

const B64URL = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_']
const ticketValue = fc.string({ unit: fc.constantFrom(...B64URL), minLength: 8, maxLength: 43 }).map((rest) => MARK + rest)
/** Percent-encodes any subset of the characters (all of them stay valid encodings). */
const encodedAnyhow = (text: string): fc.Arbitrary<string> =>
  fc.array(fc.boolean(), { minLength: text.length, maxLength: text.length })
    .map((flags) => [...text].map((c, i) => flags[i] === true ? `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}` : c).join(''))
const ticketName = fc.constantFrom('ticket', 'TICKET', 'Ticket').chain(encodedAnyhow)
const noiseText = fc.string({ unit: 'binary', maxLength: 20 })
  .map((s) => s.replace(/[&=#?]/g, ''))
  .filter((s) => !decodeLoose(s).toUpperCase().includes(MARK) && !s.toUpperCase().includes(MARK) && decodeLoose(s).toLowerCase() !== 'ticket')

type Pair = { ticket: string, text: string } | { ticket: null, text: string }
const ticketPair: fc.Arbitrary<Pair> = fc.tuple(ticketName, ticketValue).chain(([name, value]) =>
  encodedAnyhow(value).map((encoded) => ({ ticket: value, text: `${name}=${encoded}` })))
const noisePair: fc.Arbitrary<Pair> = fc.tuple(noiseText, fc.option(noiseText)).map(([name, value]) => ({ ticket: null, text: value === null ? name : `${name}=${value}` }))

const protocolEntry = fc.oneof(
  ticketValue.map((value) => ({ ticket: value as string | null, text: TICKET_PROTOCOL_PREFIX + value })),
  fc.constantFrom('tether', 'chat.v1', 'graphql-ws', '').map((text) => ({ ticket: null, text }))
)
const separator = fc.constantFrom(',', ', ', ' ,', ' , ', ',\t')

t.test('all tickets are found, and none is left in the URL or the header', async (t) => {
  const path = fc.array(fc.string({ unit: fc.constantFrom(...'abcdefghij-_.%~/'.split('')), maxLength: 8 }), { maxLength: 4 }).map((parts) => '/' + parts.join('/'))
  fc.assert(fc.property(
    path,
    fc.option(fc.array(fc.oneof(ticketPair, noisePair), { maxLength: 6 })),
    fc.option(fc.tuple(fc.array(protocolEntry, { minLength: 1, maxLength: 5 }), separator)),
    (pathname, pairs, protocols) => {
      const url = pairs === null ? pathname : `${pathname}?${pairs.map((p) => p.text).join('&')}`
      const header = protocols === null ? undefined : protocols[0].map((p) => p.text).join(protocols[1])
      const request = fakeRequest(url, header)
      takeTickets(request)
      const expected = [
        ...(pairs ?? []).flatMap((p) => p.ticket === null ? [] : [p.ticket]),
        ...(protocols?.[0] ?? []).flatMap((p) => p.ticket === null ? [] : [p.ticket])
      ]
      const after = request.url ?? ''
      const query = after.includes('?') ? after.slice(after.indexOf('?') + 1).split('&') : []
      const leftHeader = String(request.headers['sec-websocket-protocol'] ?? '')
      const queryHadTickets = (pairs ?? []).some((p) => p.ticket !== null)
      return JSON.stringify(ticketsOf(request)) === JSON.stringify(expected) &&
        !after.toUpperCase().includes(MARK) &&
        query.every((pair) => !decodeLoose(pair).toUpperCase().includes(MARK)) &&
        !leftHeader.includes(MARK) && !leftHeader.includes(TICKET_PROTOCOL_PREFIX) &&
        (queryHadTickets || after === url) &&
        after.startsWith(pathname)
    }), { numRuns: 3000 })
  t.pass('3000 requests')
})

t.test('arbitrary URLs and protocol headers never make takeTickets throw', async (t) => {
  fc.assert(fc.property(
    fc.oneof(fc.string({ unit: 'binary' }), fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.string({ unit: 'binary' }).map((s) => `/ws?ticket=${s}&ticket&%ZZ=1`)),
    fc.option(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }).map((s) => `${TICKET_PROTOCOL_PREFIX}${s}, tether`))),
    (url, header) => {
      const request = fakeRequest(url, header ?? undefined)
      takeTickets(request)
      const tickets = ticketsOf(request)
      // A ticket taken from the URL is replaced: a non-empty query ticket value is never left behind raw.
      return Array.isArray(tickets) && tickets.every((ticket) => ticket === '' || ticket.length < 4 || !(request.url ?? '').includes(`=${ticket}`))
    }), { numRuns: 3000 })
  t.pass('3000 arbitrary requests')
})
