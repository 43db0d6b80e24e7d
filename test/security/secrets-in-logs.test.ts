import { randomBytes } from 'node:crypto'
import { connect } from 'node:tls'
import t from 'tap'
import { redactText, redactUrl, type TokenClaims } from 'fastify-tether'
import { withTimeout } from 'fastify-tether/testing'
import { build, type Built } from '../helper.js'

// Finding 3 of the "Hardening" issue: tickets and tokens reached the logs on paths other than the
// happy one (a 404 path, a route that is not a WebSocket route, an encoded parameter name, errors),
// and a ticket sent there stayed redeemable. Every request below carries a real ticket and a real
// token; the whole log, at trace level, must contain neither, and every ticket sent must be spent.

/** Sends raw bytes over TLS and resolves with the status of the answer (0: closed without one). */
async function raw (built: Built, text: string): Promise<number> {
  const socket = connect({ host: '127.0.0.1', port: Number(new URL(built.url).port), ca: built.ca, servername: 'localhost' })
  try {
    return await withTimeout(new Promise<number>((resolve, reject) => {
      let answer = ''
      socket.on('data', (chunk: Buffer) => {
        answer += chunk.toString('latin1')
        if (answer.includes('\r\n\r\n')) resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0))
      })
      socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)))
      socket.on('error', reject)
      socket.once('secureConnect', () => socket.write(text, 'latin1'))
    }), 'for the answer')
  } finally {
    socket.destroy()
  }
}

type Kind = 'GET' | 'POST' | 'upgrade'

function requestText (kind: Kind, target: string, token: string, protocolTicket?: string): string {
  const lines = [`${kind === 'POST' ? 'POST' : 'GET'} ${target} HTTP/1.1`, 'Host: localhost', `Authorization: Bearer ${token}`]
  if (kind === 'upgrade') {
    lines.push('Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`)
    if (protocolTicket !== undefined) lines.push(`Sec-WebSocket-Protocol: tether, tether.ticket.${protocolTicket}`)
  } else {
    lines.push('Connection: close')
  }
  const body = kind === 'POST' ? `{"token":"${token}"` : '' // unterminated JSON: a 400 where the route parses bodies
  if (kind === 'POST') lines.push('Content-Type: application/json', `Content-Length: ${body.length}`)
  return `${lines.join('\r\n')}\r\n\r\n${body}`
}

/** Ticket positions: where a URL can carry `?ticket=` (and its disguises), on paths that 404 or are not WebSocket routes. */
const TICKET_TARGETS: Array<(ticket: string) => string> = [
  (x) => `/ws/echo/?ticket=${x}`, // trailing slash: 404
  (x) => `/WS/ECHO?ticket=${x}`, // other letter case: 404
  (x) => `//ws/echo?ticket=${x}`, // doubled slash
  (x) => `/ws/feed/?ticket=${x}`,
  (x) => `/health?ticket=${x}`, // not a WebSocket route
  (x) => `/auth/ticket?ticket=${x}`,
  (x) => `/ws/echo?%74icket=${x}`, // percent-encoded name
  (x) => `/nowhere?TICKET=${x}`,
  (x) => `/nowhere?tick%65t=${x}&a=1`,
  (x) => `/nowhere?a=1?ticket=${x}`, // a second '?'
  (x) => `/nowhere?a=1;ticket=${x}`,
  (x) => `/nowhere?ticket[]=${x}`,
  (x) => `/ws/feed?ticket=${x}` // the real route, with a token next to the ticket
]

/** Token positions: a JWT as a credential parameter, in an unnamed one, in the path, encoded. */
const TOKEN_TARGETS: Array<(token: string) => string> = [
  (x) => `/nowhere?token=${x}`,
  (x) => `/ws/echo/?token=${x}`,
  (x) => `/health?access_token=${x}`,
  (x) => `/nowhere?id_token=${x}`,
  (x) => `/nowhere?refresh_token=${x}`,
  (x) => `/nowhere?jwt=${x}`,
  (x) => `/nowhere?api_key=${x}`,
  (x) => `/nowhere?apikey=${x}`,
  (x) => `/nowhere?%74oken=${x}`,
  (x) => `/nowhere?Access-Token=${x}`,
  (x) => `/nowhere?state=${x}`, // not a credential name: found by its shape
  (x) => `/nowhere/${x}/more`,
  (x) => `/nowhere?x=Bearer%20${x}`,
  (x) => `/nowhere?x=%65${x.slice(1)}`, // the first letter percent-encoded
  (x) => `/ws/feed?token=${x}` // the real route, with the token in the header too
]

t.test('no ticket, token or Authorization value reaches any log line, and every ticket sent is spent', async (t) => {
  const built = await build(t, { config: { logLevel: 'trace', devTokens: true }, tether: { handshakeRatePerMin: 0, httpRatePerMin: 0 } })
  const now = Math.floor(Date.now() / 1000)
  const token = built.token({ sub: 'alice', amr: ['pwd', 'mfa'] })
  const [, payload = '', signature = ''] = token.split('.')
  const tickets: string[] = []
  const issue = (): string => {
    // A user per ticket, so that the per-user connection cap never decides the check at the end.
    const claims: TokenClaims = { sub: `user-${tickets.length}`, amr: ['pwd', 'mfa'], iat: now, exp: now + 300 }
    const { ticket } = built.app.tether.issueTicket(claims)
    tickets.push(ticket)
    return ticket
  }
  const statuses = new Map<number, number>()
  let requests = 0
  const send = async (text: string): Promise<void> => {
    const status = await raw(built, text)
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
    requests++
  }

  for (const kind of ['GET', 'POST', 'upgrade'] as const) {
    for (const target of TICKET_TARGETS) await send(requestText(kind, target(issue()), token, kind === 'upgrade' ? issue() : undefined))
    for (const target of TOKEN_TARGETS) await send(requestText(kind, target(token), token, kind === 'upgrade' ? issue() : undefined))
  }

  // Malformed requests, over raw TLS: Node's parser errors (Fastify logs them at trace with the raw
  // bytes), a bad URL encoding, an unknown method, an oversized header, an invalid handshake.
  // `spent`: whether the ticket must be spent afterwards. Node's parser refuses the first four
  // before any 'request' or 'upgrade' event, so nothing of the server sees them (nor logs more than
  // its trace line); a malformed handshake keeps its ticket by the upgrade gate's rule (it can never
  // complete, and RFC 6455 lets the client retry, e.g. after 426 with another version).
  const key = (): string => randomBytes(16).toString('base64')
  const malformed: Array<[(x: string) => string, boolean]> = [
    [(x) => `GET /nowhere?ticket=${x} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nBad Header\r\n\r\n`, false],
    [(x) => `GET /nowhere?ticket=${x} y?token=${token} HTTP/1.1\r\nHost: localhost\r\n\r\n`, false],
    [(x) => `FROB /health?ticket=${x} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n\r\n`, false],
    [(x) => `GET /nowhere?ticket=${x} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, false],
    [(x) => `GET /ws/%E0%A4%A?ticket=${x}&token=${token} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, true],
    [(x) => `POST /auth/ticket?ticket=${x} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{"a":`, true],
    [(x) => `GET /ws/feed?ticket=${x} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\nAuthorization: Bearer ${token}\r\n\r\n`, false],
    [(x) => `GET /ws/feed?ticket=${x} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: ${key()}\r\n\r\n`, false],
    [(x) => `GET /health?ticket=${x} HTTP/1.0\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`, false]
  ]
  const kept: string[] = []
  for (const [request, spent] of malformed) {
    const ticket = issue()
    if (!spent) kept.push(ticket)
    await send(request(ticket))
  }
  // A token in ?token= is no credential on a WebSocket route: 401 missing_token, and not logged.
  await send(`GET /ws/feed?token=${token} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key()}\r\n\r\n`)

  // A marker request (a 404, logged at info: /health is a probe, not logged), then every log line of the battery has been written.
  await send('GET /end-of-battery?marker=end HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
  await built.logs.waitFor((line) => String((line['req'] as { url?: string } | undefined)?.url).includes('marker=end'), 'the marker request')

  const text = built.logs.text()
  t.ok(text.length > 10_000, `the log has ${built.logs.lines.length} lines`)
  t.ok(text.includes('[redacted]'), 'redactions are visible')
  t.notOk(text.includes(token), 'the token appears nowhere')
  t.notOk(text.includes(signature), 'its signature appears nowhere')
  t.notOk(text.includes(payload), 'its payload appears nowhere')
  for (const ticket of tickets) {
    if (text.includes(ticket)) t.fail(`ticket ${ticket} appears in the log: ${built.logs.lines.find((line) => JSON.stringify(line).includes(ticket)) ? JSON.stringify(built.logs.lines.find((line) => JSON.stringify(line).includes(ticket))) : ''}`)
  }
  t.notOk(tickets.some((ticket) => text.includes(ticket)), `none of the ${tickets.length} tickets appears`)
  for (const status of [400, 401, 404, 426]) t.ok(statuses.has(status), `the battery met ${status}`)
  t.comment(`${requests} requests, ${tickets.length} tickets; statuses ${JSON.stringify([...statuses])}`)

  // Every ticket that was sent, wherever and however, is spent; a fresh one still works.
  const notSpent: string[] = []
  for (const ticket of tickets.filter((ticket) => !kept.includes(ticket))) {
    const refusal = await built.expectRefusal('/ws/feed', { ticket }).catch((error: Error) => ({ error: error.message }))
    if (refusal.error !== 'invalid_ticket') notSpent.push(ticket)
  }
  t.same(notSpent.map((ticket) => tickets.indexOf(ticket)), [], 'every ticket sent with the battery is refused afterwards (401 invalid_ticket)')
  const fresh = await built.client('/ws/feed', { ticket: issue() })
  t.equal(fresh.ws.readyState, fresh.ws.OPEN, 'a ticket never sent still opens the route')
})

t.test('redactUrl and redactText never throw and redact every disguise', async (t) => {
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQtaGVyZQ'
  const cases: Array<[string, string]> = [
    ['/x?ticket=abc', '/x?ticket=[redacted]'],
    ['/x?%74icket=abc', '/x?%74icket=[redacted]'],
    ['/x?%2574icket=abc', '/x?%2574icket=[redacted]'],
    ['/x?Ticket=abc&a=1', '/x?Ticket=[redacted]&a=1'],
    ['/x?a=1?token=abc#frag', '/x?a=1?token=[redacted]#frag'],
    ['/x?access_token=abc;id_token=def', '/x?access_token=[redacted];id_token=[redacted]'],
    ['/x?refresh_token=a&jwt=b&api_key=c&apikey=d&x-api-key=e', '/x?refresh_token=[redacted]&jwt=[redacted]&api_key=[redacted]&apikey=[redacted]&x-api-key=[redacted]'],
    ['/x?access+token=abc', '/x?access+token=[redacted]'],
    [`/x/${jwt}/y`, '/x/[redacted]/y'],
    [`/x?state=${jwt}`, '/x?state=[redacted]'],
    [`/x?s=%65${jwt.slice(1)}`, '/x?s=[redacted]'],
    ['/x?room=lobby&n=2', '/x?room=lobby&n=2'],
    ['/static/app.min.js?v=1.2.3', '/static/app.min.js?v=1.2.3'],
    ['/x?%E0%A4%A=1&ticket=%ZZ', '/x?%E0%A4%A=1&ticket=[redacted]'],
    ['/%?ticket', '/%?[redacted]']
  ]
  for (const [input, expected] of cases) t.equal(redactUrl(input), expected, input)
  t.equal(redactText('Route GET:/x?ticket=abc not found'), 'Route GET:/x?ticket=[redacted] not found')
  t.equal(redactText(`Authorization: Bearer ${jwt}`), 'Authorization: Bearer [redacted]')
  t.equal(redactText(`got ${jwt}.`), 'got [redacted]')
  t.equal(redactText('Authorization: Basic YWxpY2U6czNjcjN0LXBhc3N3b3Jk'), 'Authorization: Basic [redacted]')
  t.equal(redactText('closing connection: token expired'), 'closing connection: token expired', 'prose with a scheme name is left alone')
  for (const nasty of ['%', '%%', '%E0%A4%A', '?%ZZ=%', '\u0000?ticket=\uD800', '?'.repeat(1000), `${'%25'.repeat(500)}74icket=x`]) {
    t.doesNotThrow(() => redactUrl(`/x${nasty}`), JSON.stringify(nasty.slice(0, 20)))
    t.doesNotThrow(() => redactText(nasty))
  }
})
