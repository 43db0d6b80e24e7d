import t from 'tap'
import { build } from '../helper.js'
import { collect, waitClose } from 'fastify-tether/testing'

t.test('compression is off by default: an offer of permessage-deflate is not accepted', async (t) => {
  const { connect } = await build(t)
  const ws = await connect('/ws/echo', { perMessageDeflate: true })
  t.equal(ws.extensions, '')
})

t.test('with WS_COMPRESSION=on /ws/echo negotiates permessage-deflate and echoes', async (t) => {
  const { connect } = await build(t, { config: { compression: true } })
  const ws = await connect('/ws/echo', { perMessageDeflate: true })
  t.match(ws.extensions, /^permessage-deflate/)
  const reply = collect(ws, 1)
  ws.send('hello '.repeat(1_000))
  t.equal((await reply)[0], 'hello '.repeat(1_000))
})

t.test('a route that did not opt in never negotiates, even with compression on', async (t) => {
  const { connect } = await build(t, {
    config: { compression: true },
    routes (app) {
      app.ws('/test/plain', { auth: false }, async (connection) => { await connection.closed })
    }
  })
  const ws = await connect('/test/plain', { perMessageDeflate: true })
  t.equal(ws.extensions, '')
})

t.test('a compression bomb (a small frame inflating past max payload) closes with 1009', async (t) => {
  const { connect } = await build(t, { config: { compression: true }, tether: { maxPayloadBytes: 65_536 } })
  const ws = await connect('/ws/echo', { perMessageDeflate: { threshold: 0 } })
  const closed = waitClose(ws)
  ws.send('a'.repeat(1_048_576)) // 1 MiB of one letter deflates to about a kilobyte
  t.equal((await closed).code, 1009)
})
