import t from 'tap'
import { HOST_MAX_PAYLOAD, buildHost, get } from './host.js'

// A host app that registered @fastify/jwt, @fastify/websocket (maxPayload 1024), a global
// @fastify/rate-limit (3 a minute) and @fastify/helmet before tether: each keeps its own rules for
// the host's routes, and tether keeps its own for its routes.

const HOST_RATE_BODY = { statusCode: 429, error: 'Too Many Requests', message: 'Rate limit exceeded, retry in 1 minute' }

t.test('registering tether after @fastify/jwt, @fastify/websocket, @fastify/rate-limit and @fastify/helmet does not throw', async (t) => {
  const host = await buildHost(t)
  const { app } = host
  t.ok(app.hasDecorator('jwt'), 'the host\'s @fastify/jwt is there')
  t.ok(app.hasRequestDecorator('user'), 'request.user is decorated by @fastify/jwt, not by tether')
  t.ok(app.hasDecorator('websocketServer'), 'the host\'s @fastify/websocket is there')
  t.ok(app.hasDecorator('createRateLimit'), 'the host\'s @fastify/rate-limit is there')
  t.ok(app.hasDecorator('tether'), 'tether is registered')
  t.equal(app.websocketServer.options.maxPayload, HOST_MAX_PAYLOAD, 'tether did not replace the host\'s @fastify/websocket')
  const client = await host.connect('/ws/echo', { token: host.sign({ sub: 'alice' }) })
  client.send('hi')
  t.equal(await client.next(), 'hi', 'a tether route opens and echoes')
})

t.test('a host route keeps @fastify/jwt\'s rules: a host token without exp is accepted there', async (t) => {
  const host = await buildHost(t)
  const token = host.app.jwt.sign({ sub: 'host-user' })
  t.notOk('exp' in (host.app.jwt.decode<Record<string, unknown>>(token) ?? {}), 'the host token has no exp')
  const answer = await get(host, '/host/me', { authorization: `Bearer ${token}` })
  t.equal(answer.status, 200)
  t.equal((JSON.parse(answer.text) as { user: { sub: string } }).user.sub, 'host-user')
})

t.test('the same host token is refused by a tether route: tether verifies with its own scheme', async (t) => {
  const host = await buildHost(t)
  const refusal = await host.expectRefusal('/ws/echo', { token: host.app.jwt.sign({ sub: 'host-user' }) })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('a host route keeps the host\'s rate limit: the 4th plain request gets the host\'s 429', async (t) => {
  const host = await buildHost(t)
  const token = host.app.jwt.sign({ sub: 'host-user' })
  for (let i = 1; i <= 3; i++) t.equal((await get(host, '/host/me', { authorization: `Bearer ${token}` })).status, 200, `request ${i} is allowed`)
  const fourth = await get(host, '/host/me', { authorization: `Bearer ${token}` })
  t.equal(fourth.status, 429)
  t.same(JSON.parse(fourth.text), HOST_RATE_BODY, 'the host\'s own 429 body')
  t.equal(fourth.headers['x-ratelimit-limit'], '3')
})

t.test('upgrades to a tether route are not counted against the host\'s 3 a minute', async (t) => {
  const host = await buildHost(t)
  for (let i = 0; i < 10; i++) {
    const client = await host.connect('/ws/echo', { token: host.sign({ sub: `user-${i}` }) })
    client.close()
    t.equal((await client.closed()).code, 1005, `upgrade ${i + 1} opened and closed`)
  }
  const token = host.app.jwt.sign({ sub: 'host-user' })
  for (let i = 1; i <= 3; i++) t.equal((await get(host, '/host/me', { authorization: `Bearer ${token}` })).status, 200, `host request ${i} is still allowed`)
  t.equal((await get(host, '/host/me', { authorization: `Bearer ${token}` })).status, 429, 'the 4th host request is the first over the host\'s budget')
})

t.test('upgrades to a tether route count against tether\'s handshakeRatePerMin: over it, 429 rate_limited with Retry-After', async (t) => {
  const host = await buildHost(t, { tether: { handshakeRatePerMin: 5 } })
  for (let i = 0; i < 5; i++) {
    const client = await host.connect('/ws/echo', { token: host.sign({ sub: `user-${i}` }) })
    client.close()
    await client.closed()
  }
  const refusal = await host.expectRefusal('/ws/echo', { token: host.sign({ sub: 'user-5' }) })
  t.equal(refusal.status, 429)
  t.equal(refusal.error, 'rate_limited')
  const retryAfter = Number(refusal.headers['retry-after'])
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After is whole seconds within the minute (${String(refusal.headers['retry-after'])})`)
  t.same(refusal.body, { error: 'rate_limited', message: `too many connection attempts; retry in ${retryAfter} s` }, 'tether\'s body, not the host\'s')
  t.equal(host.app.tether.refusals['rate_limited'], 1)
  const token = host.app.jwt.sign({ sub: 'host-user' })
  t.equal((await get(host, '/host/me', { authorization: `Bearer ${token}` })).status, 200, 'the host\'s budget is untouched')
})

t.test('a tether route that sets config.rateLimit gets the host\'s limiter with those settings', async (t) => {
  const host = await buildHost(t, { echoRoute: { config: { rateLimit: { max: 2, timeWindow: 60_000 } } } })
  for (let i = 0; i < 2; i++) {
    const client = await host.connect('/ws/echo', { token: host.sign({ sub: `user-${i}` }) })
    client.close()
    await client.closed()
  }
  const refusal = await host.expectRefusal('/ws/echo', { token: host.sign({ sub: 'user-2' }) })
  t.equal(refusal.status, 429)
  t.same(refusal.body, HOST_RATE_BODY, 'answered as the host answers its own rate limit')
  t.equal(refusal.headers['x-ratelimit-limit'], '2', 'the route\'s own max')
  t.ok(Number(refusal.headers['retry-after']) >= 1, 'with Retry-After')
  t.notOk(host.logs.lines.some((line) => line.msg === 'websocket route hook failed'), 'not logged as a server fault')
})

t.test('a tether route keeps tether\'s payload limit: a message over the host\'s 1024 but under tether\'s limit is echoed', async (t) => {
  const host = await buildHost(t, { tether: { maxPayloadBytes: 4096 } })
  const client = await host.connect('/ws/echo', { token: host.sign({ sub: 'alice' }) })
  client.send(Buffer.alloc(2000, 7))
  const echoed = await client.next()
  t.ok(Buffer.isBuffer(echoed) && echoed.equals(Buffer.alloc(2000, 7)), 'the 2000 bytes came back')
})

t.test('a tether route closes a message over tether\'s maxPayloadBytes with 1009', async (t) => {
  const host = await buildHost(t, { tether: { maxPayloadBytes: 4096 } })
  const client = await host.connect('/ws/echo', { token: host.sign({ sub: 'alice' }) })
  client.send(Buffer.alloc(4097))
  t.equal((await client.closed()).code, 1009)
})

t.test('the host\'s /legacy route keeps the host\'s 1024: a message under it is echoed', async (t) => {
  const host = await buildHost(t, { tether: { maxPayloadBytes: 4096 } })
  const client = await host.connect('/legacy')
  client.send(Buffer.alloc(HOST_MAX_PAYLOAD, 3))
  const echoed = await client.next()
  t.ok(Buffer.isBuffer(echoed) && echoed.length === HOST_MAX_PAYLOAD)
})

t.test('the host\'s /legacy route keeps the host\'s 1024: a 2000-byte message closes it with 1009', async (t) => {
  const host = await buildHost(t, { tether: { maxPayloadBytes: 4096 } })
  const client = await host.connect('/legacy')
  client.send(Buffer.alloc(2000))
  t.equal((await client.closed()).code, 1009)
})

t.test('maxFragments holds on a tether route: a message in 4 fragments is echoed', async (t) => {
  const host = await buildHost(t, { tether: { maxFragments: 4 } })
  const client = await host.connect('/ws/echo', { token: host.sign({ sub: 'alice' }) })
  for (let i = 0; i < 3; i++) client.ws.send(Buffer.from([i]), { fin: false })
  client.ws.send(Buffer.from([3]), { fin: true })
  t.same(await client.next(), Buffer.from([0, 1, 2, 3]))
})

t.test('maxFragments holds on a tether route: a message in 5 fragments closes with 1008', async (t) => {
  const host = await buildHost(t, { tether: { maxFragments: 4 } })
  const client = await host.connect('/ws/echo', { token: host.sign({ sub: 'alice' }) })
  for (let i = 0; i < 4; i++) client.ws.send(Buffer.from([i]), { fin: false })
  client.ws.send(Buffer.from([4]), { fin: true })
  t.equal((await client.closed()).code, 1008)
})

t.test('helmet\'s headers are on a tether refusal', async (t) => {
  const host = await buildHost(t)
  const refusal = await host.expectRefusal('/ws/echo')
  t.same([refusal.status, refusal.error], [401, 'missing_token'])
  t.equal(refusal.headers['x-content-type-options'], 'nosniff')
  t.equal(refusal.headers['x-frame-options'], 'SAMEORIGIN')
  t.match(refusal.headers['strict-transport-security'], /max-age=\d+/)
  t.match(refusal.headers['content-security-policy'], /default-src 'self'/)
})
