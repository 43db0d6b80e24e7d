import { request } from 'node:https'
import t from 'tap'
import { build, type Built } from '../helper.js'
import { waitClose } from 'fastify-tether/testing'
import { attemptRefused } from './refusal.js'

async function getHealth (built: Built): Promise<number> {
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request(`${built.url}/health`, { ca: built.ca }, resolve).on('error', reject).end()
  })
  response.resume()
  return response.statusCode ?? 0
}

for (const [name, origin] of [
  ['a disallowed Origin', 'https://evil.example'],
  ['the opaque Origin null', 'null'],
  ['a suffix-trick Origin', (port: number) => `https://localhost:${port}.evil.com`],
  ['another port on the same host', (port: number) => `https://localhost:${port + 1}`],
  ['the right host over plain http', (port: number) => `http://localhost:${port}`]
] as const) {
  t.test(`${name}: 403 origin_not_allowed and the handler never runs`, async (t) => {
    const built = await build(t)
    const value = typeof origin === 'function' ? origin(built.port) : origin
    const refusal = await attemptRefused(`${built.wsUrl}/ws/echo`, { ca: built.ca, origin: value })
    t.same([refusal.status, refusal.body.error, refusal.opened], [403, 'origin_not_allowed', false])
    t.equal(built.handlerRuns('/ws/echo'), 0)
  })
}

t.test('this server\'s own origins are allowed by default, and no Origin is allowed for non-browser clients', async (t) => {
  const built = await build(t)
  const own = await built.connect('/ws/echo', { origin: `https://localhost:${built.port}` })
  const byIp = await built.connect('/ws/echo', { origin: `https://127.0.0.1:${built.port}` })
  const none = await built.connect('/ws/echo')
  t.equal(built.handlerRuns('/ws/echo'), 3)
  for (const ws of [own, byIp, none]) ws.close()
})

t.test('requireOrigin refuses a client without Origin', async (t) => {
  const built = await build(t, {
    routes (app) {
      app.ws('/test/browser-only', { auth: false, requireOrigin: true }, async () => {})
    }
  })
  const refusal = await attemptRefused(`${built.wsUrl}/test/browser-only`, { ca: built.ca })
  t.same([refusal.status, refusal.body.error], [403, 'origin_not_allowed'])
})

t.test('ALLOWED_ORIGINS replaces the default list', async (t) => {
  const built = await build(t, { config: { allowedOrigins: ['https://app.example'] } })
  await built.connect('/ws/echo', { origin: 'https://app.example' })
  const refusal = await attemptRefused(`${built.wsUrl}/ws/echo`, { ca: built.ca, origin: `https://localhost:${built.port}` })
  t.same([refusal.status, refusal.body.error], [403, 'origin_not_allowed'])
})

t.test('over the handshake rate: 429 rate_limited with Retry-After; refused attempts count, /health does not', async (t) => {
  const built = await build(t, { tether: { handshakeRatePerMin: 3 } })
  for (let i = 0; i < 5; i++) t.equal(await getHealth(built), 200)
  const refused = await attemptRefused(`${built.wsUrl}/ws/echo`, { ca: built.ca, origin: 'https://evil.example' })
  t.equal(refused.status, 403, 'the first attempt is refused for its origin, and still counts')
  const first = await built.connect('/ws/echo')
  const second = await built.connect('/ws/echo')
  const limited = await attemptRefused(`${built.wsUrl}/ws/echo`, { ca: built.ca })
  t.equal(limited.status, 429)
  t.equal(limited.body.error, 'rate_limited')
  t.match(limited.headers['retry-after'], /^\d+$/)
  t.ok(Number(limited.headers['retry-after']) > 0 && Number(limited.headers['retry-after']) <= 60)
  t.equal(built.handlerRuns('/ws/echo'), 2)
  t.equal(await getHealth(built), 200, 'plain requests are not limited by the handshake budget')
  first.close()
  second.close()
})

t.test('over the per-user cap: 429 too_many_connections; a close frees the slot', async (t) => {
  const built = await build(t, {
    tether: { maxConnectionsPerUser: 2 },
    routes (app) {
      app.ws('/test/hold', async (connection) => { await connection.closed })
    }
  })
  const alice = { headers: { authorization: `Bearer ${built.token({ sub: 'alice' })}` } }
  const first = await built.connect('/test/hold', alice)
  await built.connect('/test/hold', alice)
  const refusal = await attemptRefused(`${built.wsUrl}/test/hold`, { ca: built.ca, ...alice })
  t.same([refusal.status, refusal.body.error], [429, 'too_many_connections'])
  await built.connect('/test/hold', { headers: { authorization: `Bearer ${built.token({ sub: 'bob' })}` } })
  t.pass('another user is not affected')
  const closed = waitClose(first)
  first.close()
  await closed
  await built.logs.waitFor((l) => l.msg === 'websocket closed' && l['user'] === 'alice', 'alice\'s first connection to end')
  await built.connect('/test/hold', alice)
  t.pass('the slot was freed by the close')
})

t.test('a dropped connection (no close frame) frees its slot too', async (t) => {
  const built = await build(t, {
    tether: { maxConnectionsPerUser: 1 },
    routes (app) {
      app.ws('/test/hold', async (connection) => { await connection.closed })
    }
  })
  const alice = { headers: { authorization: `Bearer ${built.token({ sub: 'alice' })}` } }
  const first = await built.connect('/test/hold', alice)
  first.terminate()
  await built.logs.waitFor((l) => l.msg === 'websocket closed' && l['code'] === 1006, 'the dropped connection to end')
  await built.connect('/test/hold', alice)
  t.pass('reconnected after the drop')
})

t.test('over the per-IP cap: 429 too_many_connections, on public routes too', async (t) => {
  const built = await build(t, { tether: { maxConnectionsPerIp: 2 } })
  await built.connect('/ws/echo')
  await built.connect('/ws/echo')
  const refusal = await attemptRefused(`${built.wsUrl}/ws/echo`, { ca: built.ca })
  t.same([refusal.status, refusal.body.error], [429, 'too_many_connections'])
})
