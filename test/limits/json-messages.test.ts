import { Type } from '@sinclair/typebox'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../helper.js'
import { collect, waitClose } from 'fastify-tether/testing'

/** A route reading typed messages: `say` echoes its text back upper-cased, `count` its n + 1. */
function typedRoute (app: FastifyInstance): void {
  app.ws('/test/typed', {
    auth: false,
    messages: {
      say: { text: Type.String({ minLength: 1, maxLength: 20 }) },
      count: { n: Type.Integer({ minimum: 0 }) }
    }
  }, async (connection) => {
    for await (const message of connection.messages()) {
      // message is statically typed: { type: 'say', text: string } | { type: 'count', n: number }
      if (message.type === 'say') await connection.send(JSON.stringify({ type: 'said', text: message.text.toUpperCase() }))
      else await connection.send(JSON.stringify({ type: 'counted', n: message.n + 1 }))
    }
  })
}

t.test('valid typed messages reach the handler parsed', async (t) => {
  const { connect } = await build(t, { routes: typedRoute })
  const ws = await connect('/test/typed')
  const replies = collect(ws, 2)
  ws.send(JSON.stringify({ type: 'say', text: 'hi' }))
  ws.send(JSON.stringify({ type: 'count', n: 41 }))
  t.same((await replies).map((r) => JSON.parse(String(r))), [{ type: 'said', text: 'HI' }, { type: 'counted', n: 42 }])
})

t.test('invalid JSON, a schema failure and an unknown type get error frames and the socket keeps working', async (t) => {
  const { connect } = await build(t, { routes: typedRoute })
  const ws = await connect('/test/typed')
  const replies = collect(ws, 5)
  ws.send('{not json')
  ws.send(JSON.stringify({ type: 'say', text: '' }))
  ws.send(JSON.stringify({ type: 'shout', text: 'hi' }))
  ws.send(JSON.stringify({ type: 'say', text: 'ok', extra: true }))
  ws.send(JSON.stringify({ type: 'say', text: 'still here' }))
  const [invalidJson, schema, unknown, extra, valid] = (await replies).map((r) => JSON.parse(String(r)) as Record<string, unknown>)
  t.same(invalidJson, { type: 'error', error: 'invalid_json' })
  t.match(schema, { type: 'error', error: 'invalid_message', detail: [{ path: '/text' }] })
  t.same(unknown, { type: 'error', error: 'unknown_type' })
  t.match(extra, { type: 'error', error: 'invalid_message' })
  t.same(valid, { type: 'said', text: 'STILL HERE' })
})

t.test('a binary frame on a JSON route gets an error frame', async (t) => {
  const { connect } = await build(t, { routes: typedRoute })
  const ws = await connect('/test/typed')
  const reply = collect(ws, 1)
  ws.send(Buffer.from([1, 2, 3]))
  t.match(JSON.parse(String((await reply)[0])), { type: 'error', error: 'invalid_json' })
})

t.test('10 invalid messages in a row are answered; the 11th closes with 1008', async (t) => {
  const { connect } = await build(t, { routes: typedRoute })
  const ws = await connect('/test/typed')
  const errors = collect(ws, 10)
  const closed = waitClose(ws)
  for (let i = 0; i < 11; i++) ws.send('nope')
  t.equal((await errors).length, 10)
  t.same(await closed, { code: 1008, reason: 'too many invalid messages' })
})

t.test('a valid message resets the invalid streak', async (t) => {
  const { connect } = await build(t, { routes: typedRoute })
  const ws = await connect('/test/typed')
  const replies = collect(ws, 21)
  for (let i = 0; i < 10; i++) ws.send('nope')
  ws.send(JSON.stringify({ type: 'count', n: 0 }))
  for (let i = 0; i < 10; i++) ws.send('nope')
  t.equal((await replies).length, 21)
  t.equal(ws.readyState, ws.OPEN)
})
