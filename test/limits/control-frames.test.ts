import t from 'tap'
import { tetherTest, waitClose, waitEvent, withTimeout } from 'fastify-tether/testing'

const echo = { auth: false } as const

function routes (app: import('fastify').FastifyInstance): void {
  app.ws('/test/echo', echo, async (connection) => {
    for await (const message of connection.messages()) await connection.send(message)
  })
}

t.test('pings count against the message rate: a ping flood that reads its pongs is closed with 1008', async (t) => {
  const { connect, app, logs } = await tetherTest(t, { tether: { messageRatePerSec: 50, messageBurst: 100 }, routes })
  const calm = await connect('/test/echo')
  const flooder = await connect('/test/echo')
  const closed = waitClose(flooder.ws)
  let pongs = 0
  flooder.ws.on('pong', () => { pongs++ })
  // Rounds of 20 pings, each round's pongs read before the next: a peer that reads everything.
  for (let round = 0; round < 50 && flooder.ws.readyState === flooder.ws.OPEN; round++) {
    for (let i = 0; i < 20; i++) flooder.ws.ping()
    const target = pongs + 20
    await withTimeout(new Promise<void>((resolve) => {
      const check = (): void => {
        if (pongs < target && flooder.ws.readyState === flooder.ws.OPEN) return
        flooder.ws.off('pong', check)
        flooder.ws.off('close', check)
        resolve()
      }
      flooder.ws.on('pong', check)
      flooder.ws.on('close', check)
    }), 'for the round\'s pongs')
  }
  const close = await closed
  t.same({ code: close.code, reason: close.reason }, { code: 1008, reason: 'rate limit exceeded' })
  t.ok(pongs < 200, `the flood was cut off after ${pongs} pongs`)
  await logs.waitFor((line) => line.msg === 'closing connection' && line['code'] === 1008 && line['reason'] === 'rate limit exceeded', 'the closing line')
  const last = await logs.waitFor((line) => line.msg === 'websocket closed', 'the closed line')
  t.equal(last['closedBy'], 'server')
  t.equal(app.tether.serverCloses['1008'], 1)
  calm.send('unaffected')
  t.equal(await calm.next(), 'unaffected')
})

t.test('a burst of pings whose pongs pile up unread is terminated by ws, logged and counted as the server\'s', async (t) => {
  const { connect, app, logs } = await tetherTest(t, { routes })
  const client = await connect('/test/echo')
  const closed = waitClose(client.ws)
  // One write of many pings: ws answers each and terminates past its pending-pong cap (60).
  for (let i = 0; i < 1_000; i++) client.ws.ping()
  t.equal((await closed).code, 1006)
  await logs.waitFor((line) => line.msg === 'closing connection' && line['code'] === 1006 && line['reason'] === 'too many unread pongs', 'the closing line')
  const last = await logs.waitFor((line) => line.msg === 'websocket closed', 'the closed line')
  t.equal(last['closedBy'], 'server')
  t.equal(app.tether.serverCloses['1006'], 1)
})

t.test('unsolicited pongs count against the message rate too', async (t) => {
  const { connect, app } = await tetherTest(t, { tether: { messageRatePerSec: 50, messageBurst: 100 }, routes })
  const client = await connect('/test/echo')
  const closed = waitClose(client.ws)
  for (let i = 0; i < 1_000 && client.ws.readyState === client.ws.OPEN; i++) client.ws.pong()
  t.equal((await closed).code, 1008)
  t.equal(app.tether.serverCloses['1008'], 1)
})

t.test('a pong that does not answer the server\'s ping is no sign of life: the peer is terminated', async (t) => {
  const { connect, app, logs } = await tetherTest(t, { tether: { heartbeatMs: 100 }, routes })
  const client = await connect('/test/echo', { client: { autoPong: false } })
  // A peer that never reads what the server sends but keeps sending pongs of its own.
  client.ws.on('ping', () => { client.ws.pong(Buffer.from('blind')) })
  client.ws.pong(Buffer.from('blind'))
  const close = await waitClose(client.ws, 2_000)
  t.equal(close.code, 1006, 'terminated without a closing handshake')
  await logs.waitFor((line) => line.msg === 'closing connection' && line['code'] === 1006 && line['reason'] === 'no pong since the last heartbeat', 'the closing line')
  const last = await logs.waitFor((line) => line.msg === 'websocket closed', 'the closed line')
  t.equal(last['closedBy'], 'server')
  t.equal(app.tether.serverCloses['1006'], 1)
})

t.test('a peer answering each ping with its payload stays connected across heartbeats', async (t) => {
  const { connect, app } = await tetherTest(t, { tether: { heartbeatMs: 50 }, routes })
  const client = await connect('/test/echo')
  const payloads = new Set<string>()
  for (let i = 0; i < 4; i++) {
    const [payload] = await waitEvent(client.ws, 'ping') as [Buffer]
    payloads.add(payload.toString('hex'))
  }
  t.equal(payloads.size, 4, 'a fresh payload every round')
  client.send('alive')
  t.equal(await client.next(), 'alive')
  t.same(app.tether.serverCloses, {})
})
