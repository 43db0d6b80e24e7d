import t from 'tap'
import { build } from '../helper.js'
import { collect, waitClose } from 'fastify-tether/testing'

t.test('ticks arrive in strictly increasing sequence while the route awaits', async (t) => {
  const { connect, token } = await build(t, { config: { feedIntervalMs: 10 } })
  const ws = await connect('/ws/feed', { headers: { authorization: `Bearer ${token({ sub: 'alice', amr: ['mfa'] })}` } })
  const ticks = (await collect(ws, 5)).map((text) => JSON.parse(String(text)) as { type: string, seq: number, at: string })
  for (const tick of ticks) {
    t.equal(tick.type, 'tick')
    t.equal(new Date(tick.at).toISOString(), tick.at, 'at is an ISO time')
  }
  for (let i = 1; i < ticks.length; i++) {
    t.equal(ticks[i]?.seq, (ticks[i - 1]?.seq ?? 0) + 1, `tick ${i} follows tick ${i - 1}`)
  }
})

t.test('after the client closes, the service holds no reference to the connection', async (t) => {
  const { app, connect, logs, token } = await build(t, { config: { feedIntervalMs: 10 } })
  const headers = { authorization: `Bearer ${token({ sub: 'alice', amr: ['mfa'] })}` }
  const first = await connect('/ws/feed', { headers })
  const second = await connect('/ws/feed', { headers })
  await Promise.all([collect(first, 1), collect(second, 1)])
  t.equal(app.feed.attached, 2)
  const closed = waitClose(first)
  first.close()
  await closed
  await logs.waitFor((l) => l.msg === 'websocket closed' && l['route'] === '/ws/feed', 'the feed connection to end')
  t.equal(app.feed.attached, 1)
  second.close()
  const firstEnd = logs.lines.find((l) => l.msg === 'websocket closed')
  await logs.waitFor((l) => l.msg === 'websocket closed' && l !== firstEnd, 'the second feed connection to end')
  t.equal(app.feed.attached, 0)
})

t.test('stopping the service settles attach() and the route closes with 1000', async (t) => {
  const { app, connect, token } = await build(t, { config: { feedIntervalMs: 10 } })
  const ws = await connect('/ws/feed', { headers: { authorization: `Bearer ${token({ sub: 'alice', amr: ['mfa'] })}` } })
  await collect(ws, 1)
  const closed = waitClose(ws)
  app.feed.stop()
  t.same(await closed, { code: 1000, reason: '' })
})
