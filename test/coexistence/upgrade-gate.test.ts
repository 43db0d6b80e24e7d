import { request } from 'node:https'
import t from 'tap'
import { buildHost, get } from './host.js'

// tether refuses upgrades to routes that are not WebSocket routes (404 not_websocket_route), in
// both orders: host routes declared before tether (the host registered @fastify/websocket first)
// and after it (tether registered @fastify/websocket). The host's own websocket: true route keeps
// upgrading either way; its plain routes answer plain requests as before.

for (const hostWebsocket of [true, false]) {
  const order = hostWebsocket ? 'host routes declared before tether' : 'the host\'s /legacy declared after tether'
  t.test(`${order}: /legacy upgrades, an upgrade to the plain /host/me is refused with 404`, async (t) => {
    const host = await buildHost(t, { hostWebsocket })
    const legacy = await host.connect('/legacy')
    legacy.send('hi')
    t.equal(await legacy.next(), 'hi', 'the host\'s own websocket: true route still upgrades')
    const refusal = await host.expectRefusal('/host/me', { origin: 'https://evil.example' })
    t.same([refusal.status, refusal.error], [404, 'not_websocket_route'])
    t.same(host.app.tether.refusals, { not_websocket_route: 1 }, 'counted by tether')
    const echo = await host.connect('/ws/echo', { token: host.sign({ sub: 'alice' }) })
    echo.send('tether')
    t.equal(await echo.next(), 'tether', 'tether\'s own route upgrades')
    t.equal((await get(host, '/host/me')).status, 401, 'a plain request to /host/me still reaches the host route (its own 401)')
  })
}

t.test('tether reuses the host\'s @fastify/rate-limit for its ticket endpoint: tether\'s 429 body, the host\'s global limit not applied', async (t) => {
  const host = await buildHost(t, { tether: { ticketPath: '/auth/ticket', httpRatePerMin: 5 } })
  const token = host.sign({ sub: 'alice' })
  const post = async (): ReturnType<typeof fetchTicket> => await fetchTicket(host.url, host.ca, token)
  for (let i = 1; i <= 5; i++) t.equal((await post()).status, 200, `ticket ${i}: over the host's 3 a minute, under tether's 5`)
  const limited = await post()
  t.equal(limited.status, 429)
  t.same((limited.body as { error: string }).error, 'rate_limited', 'tether\'s body, not the host\'s')
  t.match(String(limited.headers['retry-after']), /^\d+$/)
  t.equal(host.app.tether.refusals['rate_limited'], 1)
})

async function fetchTicket (url: string, ca: string, token: string): Promise<{ status: number, headers: Record<string, unknown>, body: unknown }> {
  return await new Promise((resolve, reject) => {
    const req = request(`${url}/auth/ticket`, { method: 'POST', ca, headers: { authorization: `Bearer ${token}` } }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { text += chunk })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: JSON.parse(text) }))
    })
    req.on('error', reject)
    req.end()
  })
}
