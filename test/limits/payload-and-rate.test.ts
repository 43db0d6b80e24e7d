import t from 'tap'
import { build } from '../helper.js'
import { collect, waitClose, withTimeout } from 'fastify-tether/testing'

t.test('a message of max payload + 1 bytes closes with 1009', async (t) => {
  const { connect } = await build(t, { tether: { maxPayloadBytes: 1024 } })
  const ws = await connect('/ws/echo')
  const closed = waitClose(ws)
  ws.send(Buffer.alloc(1025))
  t.equal((await closed).code, 1009)
})

t.test('a message of exactly max payload bytes is echoed', async (t) => {
  const { connect } = await build(t, { tether: { maxPayloadBytes: 1024 } })
  const ws = await connect('/ws/echo')
  const reply = collect(ws, 1)
  ws.send(Buffer.alloc(1024, 1))
  t.equal(((await reply)[0] as Buffer).length, 1024)
})

t.test('a fragmented message whose total exceeds max payload closes with 1009', async (t) => {
  const { connect } = await build(t, { tether: { maxPayloadBytes: 1024 } })
  const ws = await connect('/ws/echo')
  const closed = waitClose(ws)
  ws.send(Buffer.alloc(600), { fin: false })
  ws.send(Buffer.alloc(600), { fin: true })
  t.equal((await closed).code, 1009)
})

t.test('invalid UTF-8 in a text frame closes with 1007', async (t) => {
  const { connect } = await build(t)
  const ws = await connect('/ws/echo')
  const closed = waitClose(ws)
  ws.send(Buffer.from([0x68, 0x69, 0xc3, 0x28]), { binary: false }) // 0xc3 0x28: a broken 2-byte sequence
  t.equal((await closed).code, 1007)
})

t.test('a flood closes the flooder with 1008 while a well-behaved client keeps its echo', async (t) => {
  const { connect, logs } = await build(t, { tether: { messageRatePerSec: 50, messageBurst: 100 } })
  const calm = await connect('/ws/echo')
  const flooder = await connect('/ws/echo')
  const floodClosed = waitClose(flooder)
  for (let i = 0; i < 10_000; i++) flooder.send(`flood ${i}`)
  const latenciesMs: number[] = []
  for (let i = 0; i < 20; i++) {
    const started = performance.now()
    const reply = collect(calm, 1)
    calm.send(`calm ${i}`)
    t.same(await reply, [`calm ${i}`])
    latenciesMs.push(performance.now() - started)
  }
  t.same(await floodClosed, { code: 1008, reason: 'rate limit exceeded' })
  t.equal(calm.readyState, calm.OPEN, 'the calm client is still connected')
  const worst = Math.max(...latenciesMs)
  t.comment(`calm client echo latency during the flood: worst ${worst.toFixed(1)} ms`)
  t.ok(worst < 1_000, 'the calm client was never starved')
  const line = await logs.waitFor((l) => l.msg === 'closing connection' && l['code'] === 1008, 'the close log line')
  t.equal(line['reason'], 'rate limit exceeded')
})

t.test('messageRatePerSec 0 disables the limit', async (t) => {
  const { connect } = await build(t, { tether: { messageRatePerSec: 0 } })
  const ws = await connect('/ws/echo')
  const replies = collect(ws, 500)
  for (let i = 0; i < 500; i++) ws.send(String(i))
  t.equal((await replies).length, 500)
})

t.test('a route can set its own rate', async (t) => {
  const { connect } = await build(t, {
    routes (app) {
      app.ws('/test/strict', { auth: false, messageRate: { perSec: 1, burst: 3 } }, async (connection) => {
        for await (const message of connection.messages()) await connection.send(message)
      })
    }
  })
  const ws = await connect('/test/strict')
  const closed = waitClose(ws)
  for (let i = 0; i < 4; i++) ws.send(String(i))
  t.same(await closed, { code: 1008, reason: 'rate limit exceeded' })
})

t.test('server-initiated closes are counted by code', async (t) => {
  const { app, connect } = await build(t, { tether: { maxPayloadBytes: 16 } })
  const ws = await connect('/ws/echo')
  const closed = waitClose(ws)
  ws.close(1000)
  await closed
  const strict = await connect('/ws/echo')
  const strictClosed = waitClose(strict)
  strict.send('x'.repeat(17))
  t.equal((await strictClosed).code, 1009)
  const other = await connect('/ws/echo')
  await withTimeout(app.close(), 'for the app to close')
  t.equal(other.readyState === other.CLOSING || other.readyState === other.CLOSED, true)
  t.same(app.tether.serverCloses, { 1001: 1, 1009: 1 })
})
