import type { IncomingMessage } from 'node:http'
import { request } from 'node:https'
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { deferred, tetherTest, withTimeout, type TestServer } from 'fastify-tether/testing'

// Tickets leave the URL (their value becomes [redacted]) and Sec-WebSocket-Protocol (the
// tether.ticket.<t> entry is removed, `tether` is selected) before anything routes or logs the
// request; credentials that are ambiguous (two tickets, two Authorization headers) are a 400.

interface Seen { sub: string, url: string, protocolHeader: string | undefined }

async function whoami (t: Test): Promise<{ server: TestServer, seen: Promise<Seen> }> {
  const seen = deferred<Seen>()
  const server = await tetherTest(t, {
    logLevel: 'trace',
    routes (app) {
      // A host hook that logs every header and the raw URL: what a careless host might do.
      app.addHook('onRequest', async (request) => { request.log.info({ headers: request.headers, rawUrl: request.raw.url }, 'host saw') })
      app.ws('/who', async (connection) => {
        seen.resolve({ sub: connection.user.sub, url: connection.request.url, protocolHeader: connection.request.headers['sec-websocket-protocol'] })
      })
    }
  })
  return { server, seen: seen.promise }
}

t.test('a ticket in Sec-WebSocket-Protocol opens, tether is selected, and neither the ticket nor its header entry is logged', async (t) => {
  const { server, seen } = await whoami(t)
  const ticket = server.ticket({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 300 })
  const client = await server.connect('/who', { ticket })
  t.equal(client.protocol, 'tether')
  const { sub, protocolHeader } = await seen
  t.equal(sub, 'alice')
  t.equal(protocolHeader, 'tether', 'the ticket entry was removed before the route saw the header')
  const hostSaw = await server.logs.waitFor((l) => l.msg === 'host saw', 'the host hook\'s line')
  t.equal((hostSaw['headers'] as Record<string, string>)['sec-websocket-protocol'], 'tether', 'a hook logging headers sees only `tether`')
  await server.logs.waitFor((l) => l.msg === 'websocket accepted', 'the accepted line')
  t.notOk(server.logs.text().includes(ticket), 'the ticket is in no log line')
  t.notOk(server.logs.text().includes('tether.ticket.'), 'the protocol entry is in no log line')
})

t.test('a ticket in ?ticket= is redeemed, the route sees [redacted], and the ticket is in no log line', async (t) => {
  const { server, seen } = await whoami(t)
  const ticket = server.ticket({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 300 })
  await server.connect('/who', { ticket, ticketIn: 'query' })
  const { sub, url } = await seen
  t.equal(sub, 'alice')
  t.equal(url, '/who?ticket=[redacted]')
  await server.logs.waitFor((l) => l.msg === 'websocket accepted', 'the accepted line')
  t.ok(server.logs.lines.some((l) => (l['req'] as { url?: string } | undefined)?.url === '/who?ticket=[redacted]'), 'the URL is logged redacted')
  t.equal((await server.logs.waitFor((l) => l.msg === 'host saw', 'the host hook\'s line'))['rawUrl'], '/who?ticket=[redacted]', 'a hook logging the raw URL sees it redacted')
  t.notOk(server.logs.text().includes(ticket), 'the ticket is in no log line')
})

t.test('a ticket in ?%74icket= (percent-encoded name) is redeemed and is in no log line', async (t) => {
  const { server, seen } = await whoami(t)
  const ticket = server.ticket({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 300 })
  await server.connect(`/who?%74icket=${ticket}`)
  const { sub, url } = await seen
  t.equal(sub, 'alice')
  t.equal(url, '/who?ticket=[redacted]')
  await server.logs.waitFor((l) => l.msg === 'websocket accepted', 'the accepted line')
  t.notOk(server.logs.text().includes(ticket), 'the ticket is in no log line')
})

t.test('a refused ticket is in no log line either', async (t) => {
  const { server } = await whoami(t)
  const unknown = randomBytes(32).toString('base64url')
  const refusal = await server.expectRefusal('/who', { ticket: unknown, ticketIn: 'query' })
  t.same([refusal.status, refusal.error], [401, 'invalid_ticket'])
  await server.logs.waitFor((l) => l.msg === 'upgrade refused', 'the refusal line')
  t.notOk(server.logs.text().includes(unknown))
})

t.test('two tickets, one in the query and one in the protocol: 400 invalid_request, both spent, neither logged', async (t) => {
  const { server } = await whoami(t)
  const exp = Math.floor(Date.now() / 1000) + 300
  const inQuery = server.ticket({ sub: 'alice', exp })
  const inProtocol = server.ticket({ sub: 'alice', exp })
  const refusal = await server.expectRefusal(`/who?ticket=${inQuery}`, { ticket: inProtocol })
  t.equal(refusal.status, 400)
  t.same(refusal.body, { error: 'invalid_request', message: 'more than one ticket' })
  await server.logs.waitFor((l) => l.msg === 'upgrade refused', 'the refusal line')
  t.notOk(server.logs.text().includes(inQuery))
  t.notOk(server.logs.text().includes(inProtocol))
  // A ticket that was sent is spent, even by a refused request: it may have leaked on the way.
  for (const [ticket, ticketIn] of [[inQuery, 'query'], [inProtocol, 'protocol']] as const) {
    const again = await server.expectRefusal('/who', { ticket, ticketIn })
    t.same([again.status, again.error], [401, 'invalid_ticket'], `the ${ticketIn} ticket was spent`)
  }
})

/** Sends an upgrade request with two Authorization headers and reads the answer. */
async function upgradeWithHeaders (server: TestServer, path: string, headers: Record<string, string | string[]>): Promise<{ status: number, body: unknown }> {
  return await withTimeout(new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, {
      ca: server.ca,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...headers
      }
    })
    req.on('upgrade', (_response, socket) => { socket.destroy(); reject(new Error('the upgrade was accepted')) })
    req.on('response', (response: IncomingMessage) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { text += chunk })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }))
    })
    req.on('error', reject)
    req.end()
  }), 'for the answer')
}

t.test('two Authorization headers: 400 invalid_request', async (t) => {
  const { server } = await whoami(t)
  const token = server.sign({ sub: 'alice' })
  const answer = await upgradeWithHeaders(server, '/who', { authorization: [`Bearer ${token}`, `Bearer ${server.sign({ sub: 'mallory' })}`] })
  t.equal(answer.status, 400)
  t.same(answer.body, { error: 'invalid_request', message: 'more than one Authorization header' })
  t.same(server.app.tether.refusals, { invalid_request: 1 })
})

t.test('the same upgrade request with one Authorization header opens (the raw request is a valid upgrade)', async (t) => {
  const { server, seen } = await whoami(t)
  const status = await withTimeout(new Promise<number>((resolve, reject) => {
    const req = request(`${server.url}/who`, {
      ca: server.ca,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        authorization: `Bearer ${server.sign({ sub: 'alice' })}`
      }
    })
    req.on('upgrade', (response, socket) => { socket.destroy(); resolve(response.statusCode ?? 0) })
    req.on('response', (response) => { response.resume(); resolve(response.statusCode ?? 0) })
    req.on('error', reject)
    req.end()
  }), 'for the upgrade')
  t.equal(status, 101)
  t.equal((await seen).sub, 'alice')
})
