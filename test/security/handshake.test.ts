import { randomBytes } from 'node:crypto'
import { connect } from 'node:tls'
import t, { type Test } from 'tap'
import type { TetherOptions } from 'fastify-tether'
import { onTestEnd, tetherTest, withTimeout, type TestServer } from 'fastify-tether/testing'
import { build } from '../helper.js'

// The first check of every upgrade request, on any route, before the shutdown check, the
// handshake budget, Origin and authentication: a valid RFC 6455 handshake (400, or 426 with
// Sec-WebSocket-Version: 13 for another version) to a WebSocket route (404). So a malformed
// handshake redeems no ticket and spends no budget, and an upgrade to a plain route such as
// /health never gets @fastify/websocket's 101-and-close. Every request here is written raw over TLS.

/** A parsed HTTP answer read to the end of the connection. */
interface RawAnswer { status: number, headers: Record<string, string>, body: string }

/** Writes `head` (request line and headers, no blank line) over TLS and reads the answer until the server closes. */
async function rawRequest (t: Test, server: TestServer, head: string, localAddress?: string): Promise<RawAnswer> {
  const socket = connect({ host: '127.0.0.1', port: server.port, ca: server.ca, servername: 'localhost', ...(localAddress === undefined ? {} : { localAddress }) })
  onTestEnd(t, () => { socket.destroy() })
  const text = await withTimeout(new Promise<string>((resolve, reject) => {
    let received = ''
    socket.setEncoding('latin1')
    socket.on('secureConnect', () => { socket.write(`${head}\r\n\r\n`) })
    socket.on('data', (chunk: string) => { received += chunk })
    socket.on('close', () => resolve(received))
    socket.on('error', reject)
  }), 'for the answer and the end of the connection')
  const [top = '', body = ''] = text.split('\r\n\r\n')
  const [statusLine = '', ...lines] = top.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status: Number(/^HTTP\/1\.\d (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body }
}

/** An upgrade request head for `path`, valid unless `change` alters it (a header set to null is left out). */
function upgrade (server: TestServer, path: string, change: { requestLine?: string, headers?: Record<string, string | null> } = {}): string {
  const headers: Record<string, string | null> = {
    Host: `localhost:${server.port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...change.headers
  }
  const lines = Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== null).map(([name, value]) => `${name}: ${value}`)
  return [change.requestLine ?? `GET ${path} HTTP/1.1`, ...lines].join('\r\n')
}

async function app (t: Test, tether: TetherOptions | false = {}): Promise<{ server: TestServer, runs: () => number }> {
  let runs = 0
  const server = await tetherTest(t, {
    tether,
    routes (scope) {
      scope.ws('/who', async (connection) => { runs++; await connection.send(connection.user.sub) })
      scope.ws('/open', { auth: false }, async (connection) => { runs++; await connection.send('hi') })
      scope.get('/plain', async () => ({ plain: true }))
      // The host's own @fastify/websocket routes, declared after tether: still WebSocket routes.
      scope.get('/host-ws', { websocket: true }, (socket) => { socket.send('host') })
      scope.route({ method: 'GET', url: '/host-both', handler: async () => ({ http: true }), wsHandler: (socket) => { socket.send('both') } })
    }
  })
  return { server, runs: () => runs }
}

const MALFORMED: Array<[string, { requestLine?: string, headers?: Record<string, string | null> }, string]> = [
  ['HTTP/1.0', { requestLine: 'GET /who HTTP/1.0' }, 'a WebSocket handshake needs HTTP/1.1'],
  ['POST', { requestLine: 'POST /who HTTP/1.1' }, 'a WebSocket handshake must be a GET request'],
  ['Upgrade: h2c', { headers: { Upgrade: 'h2c' } }, 'the Upgrade header must be websocket'],
  ['a 15-byte key', { headers: { 'Sec-WebSocket-Key': randomBytes(15).toString('base64') } }, 'Sec-WebSocket-Key must be 16 bytes in base64'],
  ['no key', { headers: { 'Sec-WebSocket-Key': null } }, 'Sec-WebSocket-Key must be 16 bytes in base64'],
  ['no version', { headers: { 'Sec-WebSocket-Version': null } }, 'Sec-WebSocket-Version is missing'],
  ['a subprotocol offered twice', { headers: { 'Sec-WebSocket-Protocol': 'chat, chat' } }, 'Sec-WebSocket-Protocol must be a list of distinct tokens'],
  ['a subprotocol that is not a token', { headers: { 'Sec-WebSocket-Protocol': 'a b' } }, 'Sec-WebSocket-Protocol must be a list of distinct tokens']
]

for (const [name, change, message] of MALFORMED) {
  t.test(`${name}: 400 invalid_handshake before anything else, logged and counted`, async (t) => {
    const { server, runs } = await app(t)
    const answer = await rawRequest(t, server, upgrade(server, '/who', { ...change, headers: { Origin: 'https://evil.example', ...change.headers } }))
    t.equal(answer.status, 400, 'not 401 (no credentials) nor 403 (a refused Origin): the handshake is checked first')
    t.same(JSON.parse(answer.body), { error: 'invalid_handshake', message })
    t.same(server.app.tether.refusals, { invalid_handshake: 1 })
    await server.logs.waitFor((line) => line.msg === 'upgrade refused' && line['reason'] === 'invalid_handshake', 'the refusal line')
    t.equal(runs(), 0)
  })
}

t.test('Sec-WebSocket-Version 8: 426 with Sec-WebSocket-Version: 13 (RFC 6455 section 4.4)', async (t) => {
  const { server } = await app(t)
  for (const version of ['8', '12', '14', 'x']) {
    const answer = await rawRequest(t, server, upgrade(server, '/open', { headers: { 'Sec-WebSocket-Version': version } }))
    t.equal(answer.status, 426, `version ${version}`)
    t.equal(answer.headers['sec-websocket-version'], '13')
    t.equal(JSON.parse(answer.body).error, 'unsupported_version')
  }
  t.same(server.app.tether.refusals, { unsupported_version: 4 })
})

t.test('a ticket offered with a malformed handshake is not redeemed: the same ticket opens afterwards', async (t) => {
  const { server, runs } = await app(t)
  const exp = Math.floor(Date.now() / 1000) + 300
  const inQuery = server.ticket({ sub: 'alice', exp })
  const inProtocol = server.ticket({ sub: 'bob', exp })
  const badVersion = await rawRequest(t, server, upgrade(server, `/who?ticket=${inQuery}`, { headers: { 'Sec-WebSocket-Version': '12' } }))
  t.equal(badVersion.status, 426)
  const http10 = await rawRequest(t, server, upgrade(server, '/who', { requestLine: 'GET /who HTTP/1.0', headers: { 'Sec-WebSocket-Protocol': `tether, tether.ticket.${inProtocol}` } }))
  t.equal(http10.status, 400)
  const badKey = await rawRequest(t, server, upgrade(server, `/who?ticket=${inQuery}`, { headers: { 'Sec-WebSocket-Key': 'short' } }))
  t.equal(badKey.status, 400)
  t.equal(runs(), 0)
  const alice = await server.connect('/who', { ticket: inQuery, ticketIn: 'query' })
  t.equal(await alice.next(), 'alice', 'the query ticket was still redeemable')
  const bob = await server.connect('/who', { ticket: inProtocol })
  t.equal(await bob.next(), 'bob', 'the subprotocol ticket was still redeemable')
})

t.test('malformed handshakes spend none of the handshake budget', async (t) => {
  const { server } = await app(t, { handshakeRatePerMin: 2 })
  for (let i = 0; i < 5; i++) t.equal((await rawRequest(t, server, upgrade(server, '/open', { requestLine: 'GET /open HTTP/1.0' }))).status, 400)
  for (let i = 0; i < 2; i++) t.equal(await (await server.connect('/open')).next(), 'hi', `valid upgrade ${i + 1} opens`)
  t.equal((await server.expectRefusal('/open')).status, 429, 'the third valid one is over the budget')
})

t.test('a valid raw handshake opens: the checks refuse nothing a client sends', async (t) => {
  const { server } = await app(t)
  const socket = connect({ host: '127.0.0.1', port: server.port, ca: server.ca, servername: 'localhost' })
  onTestEnd(t, () => { socket.destroy() })
  const head = await withTimeout(new Promise<string>((resolve, reject) => {
    let received = ''
    socket.setEncoding('latin1')
    socket.on('secureConnect', () => { socket.write(`${upgrade(server, '/open', { headers: { Connection: 'keep-alive, Upgrade', Upgrade: 'WebSocket', 'Sec-WebSocket-Protocol': 'x-a, x-b' } })}\r\n\r\n`) })
    socket.on('data', (chunk: string) => { received += chunk; if (received.includes('\r\n\r\n')) resolve(received) })
    socket.on('error', reject)
  }), 'for the 101')
  t.match(head, /^HTTP\/1\.1 101 /)
  t.notMatch(head, /sec-websocket-protocol/i, 'no subprotocol the route does not speak is selected')
})

t.test('an upgrade to a plain route or to no route: 404 not_websocket_route, whatever the Origin, logged and counted', async (t) => {
  const { server } = await app(t)
  for (const path of ['/plain', '/nowhere']) {
    const answer = await rawRequest(t, server, upgrade(server, path, { headers: { Origin: 'https://evil.example' } }))
    t.equal(answer.status, 404, path)
    t.same(JSON.parse(answer.body), { error: 'not_websocket_route', message: 'no WebSocket is served at this path' })
  }
  const refusal = await server.expectRefusal('/plain', { origin: 'https://evil.example' })
  t.same([refusal.status, refusal.error], [404, 'not_websocket_route'], 'a ws client never sees a socket')
  t.same(server.app.tether.refusals, { not_websocket_route: 3 })
  const line = await server.logs.waitFor((l) => l.msg === 'upgrade refused' && l['reason'] === 'not_websocket_route', 'the refusal line')
  t.equal(line['statusCode'], 404)
  const plain = await rawRequest(t, server, ['GET /plain HTTP/1.1', `Host: localhost:${server.port}`, 'Connection: close'].join('\r\n'))
  t.same([plain.status, JSON.parse(plain.body)], [200, { plain: true }], 'the plain route answers plain requests as before')
})

t.test('a host\'s own @fastify/websocket routes declared after tether (websocket: true, wsHandler) still upgrade', async (t) => {
  const { server } = await app(t)
  const hostWs = await server.connect('/host-ws', { origin: 'https://evil.example' })
  t.equal(await hostWs.next(), 'host', 'the host route keeps its own rules (tether checks only the handshake and the route kind)')
  const both = await server.connect('/host-both')
  t.equal(await both.next(), 'both')
  t.same(server.app.tether.refusals, {})
})

t.test('the reference server: GET /health with Upgrade headers from any Origin is refused with 404, never 101', async (t) => {
  const built = await build(t)
  const refusal = await built.expectRefusal('/health', { origin: 'https://evil.example' })
  t.same([refusal.status, refusal.error], [404, 'not_websocket_route'])
  t.same(built.app.tether.refusals, { not_websocket_route: 1 })
})
