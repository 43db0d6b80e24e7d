import t from 'tap'
import { build } from '../helper.js'
import { waitClose, waitEvent } from 'fastify-tether/testing'

t.test('a client that never answers pings is terminated within about two heartbeat intervals', async (t) => {
  const { app, connect, logs } = await build(t, { tether: { heartbeatMs: 100 } })
  const ws = await connect('/ws/echo', { autoPong: false })
  const closed = waitClose(ws, 2_000)
  t.equal((await closed).code, 1006, 'terminated: no closing handshake with a dead peer')
  await logs.waitFor((l) => l.msg === 'closing connection' && l['code'] === 1006 && l['reason'] === 'no pong since the last heartbeat', 'the termination log')
  const closedLine = await logs.waitFor((l) => l.msg === 'websocket closed', 'the connection to end')
  t.equal(closedLine['closedBy'], 'server')
  t.equal(app.tether.serverCloses['1006'], 1)
})

t.test('a client that answers pings stays connected across heartbeats', async (t) => {
  const { connect } = await build(t, { tether: { heartbeatMs: 50 } })
  const ws = await connect('/ws/echo')
  for (let i = 0; i < 4; i++) await waitEvent(ws, 'ping')
  t.equal(ws.readyState, ws.OPEN)
  ws.close()
})
