import t from 'tap'
import { build } from '../helper.js'
import { collect, waitClose } from 'fastify-tether/testing'

t.test('echoes text as text and binary as binary, unchanged', async (t) => {
  const { connect } = await build(t)
  const ws = await connect('/ws/echo')
  const binary = Buffer.from([0, 1, 2, 253, 254, 255])
  const replies = collect(ws, 3)
  ws.send('hello, tether')
  ws.send(binary)
  ws.send('żółw 🐢')
  const [text, bytes, unicode] = await replies
  t.equal(text, 'hello, tether')
  t.ok(Buffer.isBuffer(bytes), 'binary comes back as a binary frame')
  t.same(bytes, binary)
  t.equal(unicode, 'żółw 🐢')
})

t.test('echoes 1,000 pipelined messages in order', async (t) => {
  // 1,000 at once is over the default burst of 100: this test is about order, so the limit is off.
  const { connect } = await build(t, { tether: { messageRatePerSec: 0 } })
  const ws = await connect('/ws/echo')
  const sent = Array.from({ length: 1000 }, (_, i) => i % 2 === 0 ? `message ${i}` : Buffer.from(`binary ${i}`))
  const replies = collect(ws, sent.length)
  for (const message of sent) ws.send(message)
  t.same(await replies, sent)
})

t.test('a plain HTTPS GET to a WebSocket route gets 426 Upgrade Required', async (t) => {
  const { url, ca } = await build(t)
  const { request } = await import('node:https')
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request(`${url}/ws/echo`, { ca }, resolve).on('error', reject).end()
  })
  let body = ''
  for await (const chunk of response) body += String(chunk)
  t.equal(response.statusCode, 426)
  t.equal(response.headers.upgrade, 'websocket')
  t.same(JSON.parse(body), { error: 'upgrade_required', message: 'this route only accepts WebSocket upgrades' })
})

t.test('the client closing ends the connection with one log line that counts traffic', async (t) => {
  const { connect, logs } = await build(t)
  const ws = await connect('/ws/echo')
  const replies = collect(ws, 2)
  ws.send('abc')
  ws.send(Buffer.from([1, 2]))
  await replies
  const closed = waitClose(ws)
  ws.close(1000, 'bye')
  t.equal((await closed).code, 1000)
  const line = await logs.waitFor((l) => l.msg === 'websocket closed', 'the connection log line')
  t.match(line, {
    route: '/ws/echo',
    code: 1000,
    reason: 'bye',
    closedBy: 'client',
    messagesIn: 2,
    bytesIn: 5,
    messagesOut: 2,
    bytesOut: 5
  })
  t.type(line['reqId'], 'string')
  t.type(line['durationMs'], 'number')
  t.equal(logs.lines.filter((l) => l.msg === 'websocket closed').length, 1, 'exactly one line')
})
