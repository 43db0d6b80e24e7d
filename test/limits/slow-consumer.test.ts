import { setImmediate as nextTurn } from 'node:timers/promises'
import t from 'tap'
import { ConnectionGroup } from 'fastify-tether'
import { build } from '../helper.js'
import { deferred, waitEvent } from 'fastify-tether/testing'

const CHUNK = 'x'.repeat(16_384)

t.test('a subscriber that never reads is closed with 1013 and released, while the others get everything', async (t) => {
  const group = new ConnectionGroup()
  const slowEnded = deferred<{ closedBy: string | null }>()
  const { app, connect, logs } = await build(t, {
    tether: { maxBufferedBytes: 262_144, closeTimeoutMs: 200 },
    routes (app) {
      app.ws('/test/fanout', { auth: false }, async (connection) => {
        await group.attach(connection)
        if (connection.request.headers['x-role'] === 'slow') slowEnded.resolve({ closedBy: connection.stats.closedBy })
      })
    }
  })
  const reader = await connect('/test/fanout')
  const slow = await connect('/test/fanout', { headers: { 'x-role': 'slow' } })
  slow.pause() // never reads: its kernel buffers fill, then the server-side buffer grows
  // Updated from event callbacks, so kept in an object the loops below read.
  const progress = { received: 0, sent: 0, slowGone: false }
  reader.on('message', () => { progress.received++ })
  slowEnded.promise.then(() => { progress.slowGone = true }, t.error)
  while (!progress.slowGone && progress.sent < 4_000) {
    group.broadcast(CHUNK)
    progress.sent++
    if (progress.sent % 16 === 0) await nextTurn() // let the sockets write between bursts
  }
  t.ok(progress.slowGone, `the slow subscriber was cut off after ${progress.sent} broadcasts`)
  t.same(await slowEnded.promise, { closedBy: 'server' })
  const line = await logs.waitFor((l) => l.msg === 'closing slow consumer', 'the slow consumer log')
  t.equal(line['code'], 1013)
  await logs.waitFor((l) => l.msg === 'closing connection' && l['code'] === 1013, 'the close log with its code')
  for (let i = 0; i < 10; i++) group.broadcast(CHUNK)
  progress.sent += 10
  while (progress.received < progress.sent) await waitEvent(reader, 'message')
  t.equal(progress.received, progress.sent, 'the reading subscriber got every broadcast')
  t.equal(group.size, 1, 'the group released the slow connection')
  await logs.waitFor((l) => l.msg === 'websocket closed' && l['closedBy'] === 'server', 'the slow connection to be gone')
  t.equal(app.tether.connectionCount, 1, 'the server holds only the reader')
  t.equal(app.tether.serverCloses['1013'], 1)
})
