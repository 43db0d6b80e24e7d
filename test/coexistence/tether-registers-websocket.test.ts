import t from 'tap'
import { buildHost } from './host.js'

// The same host app without its own @fastify/websocket: tether registers it, and both the host's
// `websocket: true` route and tether's routes are served.

t.test('without a host @fastify/websocket tether registers it, and a tether route is served', async (t) => {
  const host = await buildHost(t, { hostWebsocket: false })
  t.ok(host.app.hasDecorator('websocketServer'), 'tether registered @fastify/websocket')
  const client = await host.connect('/ws/echo', { token: host.sign({ sub: 'alice' }) })
  client.send('tether')
  t.equal(await client.next(), 'tether')
})

t.test('without a host @fastify/websocket the host\'s own websocket: true route is served', async (t) => {
  const host = await buildHost(t, { hostWebsocket: false })
  const client = await host.connect('/legacy')
  client.send('legacy')
  t.equal(await client.next(), 'legacy')
})

t.test('without a host @fastify/websocket the host\'s route gets tether\'s maxPayloadBytes', async (t) => {
  const host = await buildHost(t, { hostWebsocket: false, tether: { maxPayloadBytes: 4096 } })
  t.equal(host.app.websocketServer.options.maxPayload, 4096)
  const client = await host.connect('/legacy')
  client.send(Buffer.alloc(2000, 1))
  t.equal((await client.next()).length, 2000, 'over the 1024 a host would have set, under tether\'s')
  client.send(Buffer.alloc(4097))
  t.equal((await client.closed()).code, 1009)
})
