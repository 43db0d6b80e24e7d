import { setImmediate as nextTurn } from 'node:timers/promises'
import t from 'tap'
import { ConnectionGroup } from '../../src/index.js'
import { build, deferred, waitEvent } from '../helper.js'

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
  let received = 0
  reader.on('message', () => { received++ })
  let sent = 0
  let slowGone = false
  void slowEnded.promise.then(() => { slowGone = true })
  while (!slowGone && sent < 4_000) {
    group.broadcast(CHUNK)
    sent++
    if (sent % 16 === 0) await nextTurn() // let the sockets write between bursts
  }
  t.ok(slowGone, `the slow subscriber was cut off after ${sent} broadcasts`)
  t.same(await slowEnded.promise, { closedBy: 'server' })
  const line = await logs.waitFor((l) => l.msg === 'closing slow consumer', 'the slow consumer log')
  t.equal(line['code'], 1013)
  await logs.waitFor((l) => l.msg === 'closing connection' && l['code'] === 1013, 'the close log with its code')
  for (let i = 0; i < 10; i++) group.broadcast(CHUNK)
  sent += 10
  while (received < sent) await waitEvent(reader, 'message')
  t.equal(received, sent, 'the reading subscriber got every broadcast')
  t.equal(group.size, 1, 'the group released the slow connection')
  await logs.waitFor((l) => l.msg === 'websocket closed' && l['closedBy'] === 'server', 'the slow connection to be gone')
  t.equal(app.tether.connectionCount, 1, 'the server holds only the reader')
  t.equal(app.tether.serverCloses['1013'], 1)
})
