import t from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import pino from 'pino'
import { WebSocket as WsClient } from 'ws'
import { Hub, PreparedMessage, type Backplane, type Subscriber } from 'fastify-tether'
import { build } from '../helper.js'
import { collect, deferred, waitEvent } from 'fastify-tether/testing'

class RecordingBackplane implements Backplane {
  readonly instanceId = 'test'
  readonly calls: string[] = []
  async start (): Promise<void> {}
  subscribe (topic: string): void { this.calls.push(`subscribe ${topic}`) }
  unsubscribe (topic: string): void { this.calls.push(`unsubscribe ${topic}`) }
  publish (topic: string, text: string): void { this.calls.push(`publish ${topic} ${text}`) }
  async close (): Promise<void> {}
}

function fakeSubscriber (): Subscriber & { received: string[], abort: () => void } {
  const controller = new AbortController()
  const received: string[] = []
  return {
    signal: controller.signal,
    received,
    abort: () => controller.abort(),
    pushPrepared: (message) => { received.push(message.text); return true }
  }
}

t.test('a prepared message is one unmasked text frame, built once', async (t) => {
  const prepared = PreparedMessage.of({ type: 'hi' })
  t.equal(prepared.text, '{"type":"hi"}')
  t.same([...prepared.frame], [0x81, 13, ...Buffer.from('{"type":"hi"}')])
  const long = PreparedMessage.of('x'.repeat(200))
  t.same([...long.frame.subarray(0, 4)], [0x81, 126, 0, 200], '16-bit extended length')
  t.equal(long.payloadBytes, 200)
})

t.test('publish reaches every subscriber in order, skips except, and goes to the backplane once', async (t) => {
  const backplane = new RecordingBackplane()
  const hub = new Hub(backplane, pino({ level: 'silent' }))
  const [a, b, c] = [fakeSubscriber(), fakeSubscriber(), fakeSubscriber()]
  for (const s of [a, b, c]) hub.subscribe(s, 'room')
  hub.subscribe(a, 'room') // idempotent
  t.equal(hub.publish('room', 'one'), 3)
  t.equal(hub.publish('room', { n: 2 }, { except: b }), 2)
  t.same(a.received, ['one', '{"n":2}'])
  t.same(b.received, ['one'])
  t.same(backplane.calls, ['subscribe room', 'publish room one', 'publish room {"n":2}'], 'one SUBSCRIBE per topic, one publish per message')
})

t.test('subscriptions are reference-counted and dropped when the connection ends', async (t) => {
  const backplane = new RecordingBackplane()
  const hub = new Hub(backplane, pino({ level: 'silent' }))
  const [a, b] = [fakeSubscriber(), fakeSubscriber()]
  hub.subscribe(a, 'x')
  hub.subscribe(b, 'x')
  hub.subscribe(a, 'y')
  a.abort()
  t.equal(hub.subscriberCount('x'), 1)
  t.equal(hub.subscriberCount('y'), 0)
  t.same(hub.topicsOf(a), [])
  hub.unsubscribe(b, 'x')
  t.equal(hub.topicCount, 0)
  t.same(backplane.calls, ['subscribe x', 'subscribe y', 'unsubscribe y', 'unsubscribe x'])
  hub.subscribe(a, 'z')
  t.equal(hub.subscriberCount('z'), 0, 'a closed connection cannot subscribe again')
})

t.test('a never-reading subscriber is closed with 1013 while the others receive everything', async (t) => {
  const slowGone = deferred()
  const { app, connect, logs } = await build(t, {
    tether: { maxBufferedBytes: 262_144, closeTimeoutMs: 200 },
    routes (app) {
      app.ws('/test/topic', { auth: false }, async (connection) => {
        connection.subscribe('news')
        await connection.closed
        if (connection.request.headers['x-role'] === 'slow') slowGone.resolve()
      })
    }
  })
  const readers = await Promise.all([connect('/test/topic'), connect('/test/topic')])
  const slow = await connect('/test/topic', { headers: { 'x-role': 'slow' } })
  slow.pause()
  await logs.waitFor((l) => l.msg === 'websocket accepted' && logs.lines.filter((x) => x.msg === 'websocket accepted').length === 3, 'all three to subscribe')
  const counts = readers.map(() => 0)
  readers.forEach((ws, i) => ws.on('message', () => { counts[i] = (counts[i] ?? 0) + 1 }))
  const state = { done: false, sent: 0 }
  slowGone.promise.then(() => { state.done = true }, t.error)
  const chunk = 'n'.repeat(16_384)
  while (!state.done && state.sent < 4_000) {
    app.hub.publish('news', chunk)
    state.sent++
    if (state.sent % 16 === 0) await nextTurn()
  }
  t.ok(state.done, `the slow subscriber was closed after ${state.sent} publishes`)
  await logs.waitFor((l) => l.msg === 'closing connection' && l['code'] === 1013, 'the 1013 close')
  t.equal(app.hub.subscriberCount('news'), 2, 'its subscription is gone')
  for (const [i, ws] of readers.entries()) {
    while ((counts[i] ?? 0) < state.sent) await waitEvent(ws, 'message')
    t.equal(counts[i], state.sent, `reader ${i} received every message`)
  }
  t.ok(slow instanceof WsClient)
  const last = collect(readers[0] as WsClient, 1)
  app.hub.publish('news', 'after')
  t.same(await last, ['after'])
})
