import { Type } from '@sinclair/typebox'
import t from 'tap'
import { deferred, tetherTest } from 'fastify-tether/testing'

// A route's TypeBox schema for params and querystring is checked before the upgrade: a failure is
// a 400 invalid_request refusal, a match opens with the values typed and coerced by the schema.

const Params = Type.Object({ id: Type.String({ pattern: '^[0-9]+$' }) })
const Querystring = Type.Object({ page: Type.Integer({ minimum: 1 }) })

t.test('params failing the schema: 400 invalid_request, counted and logged as a refusal', async (t) => {
  const server = await tetherTest(t, {
    routes (app) {
      app.ws('/x/:id', { schema: { params: Params } }, async () => {})
    }
  })
  const refusal = await server.expectRefusal('/x/abc', { token: server.sign({ sub: 'alice' }) })
  t.equal(refusal.status, 400)
  t.equal(refusal.error, 'invalid_request')
  t.match(refusal.message, /^params/, 'the message names what failed')
  t.equal(server.app.tether.refusals['invalid_request'], 1)
  const line = await server.logs.waitFor((l) => l.msg === 'upgrade refused', 'the refusal line')
  t.equal(line['reason'], 'invalid_request')
  t.equal(line['statusCode'], 400)
})

t.test('params matching the schema: opens, and the handler sees request.params.id', async (t) => {
  const seen = deferred<unknown>()
  const server = await tetherTest(t, {
    routes (app) {
      app.ws('/x/:id', { schema: { params: Params } }, async (connection) => {
        seen.resolve(connection.request.params.id)
      })
    }
  })
  await server.connect('/x/12', { token: server.sign({ sub: 'alice' }) })
  t.equal(await seen.promise, '12')
})

t.test('a querystring failing the schema: 400 invalid_request', async (t) => {
  const server = await tetherTest(t, {
    routes (app) {
      app.ws('/q', { schema: { querystring: Querystring } }, async () => {})
    }
  })
  const refusal = await server.expectRefusal('/q?page=zero', { token: server.sign({ sub: 'alice' }) })
  t.same([refusal.status, refusal.error], [400, 'invalid_request'])
  t.match(refusal.message, /^querystring/)
})

t.test('a querystring without a required field: 400 invalid_request', async (t) => {
  const server = await tetherTest(t, {
    routes (app) {
      app.ws('/q', { schema: { querystring: Querystring } }, async () => {})
    }
  })
  const refusal = await server.expectRefusal('/q', { token: server.sign({ sub: 'alice' }) })
  t.same([refusal.status, refusal.error], [400, 'invalid_request'])
})

t.test('a querystring matching the schema: opens, and the handler sees the coerced value', async (t) => {
  const seen = deferred<unknown>()
  const server = await tetherTest(t, {
    routes (app) {
      app.ws('/q', { schema: { querystring: Querystring } }, async (connection) => {
        seen.resolve(connection.request.query.page)
      })
    }
  })
  await server.connect('/q?page=3', { token: server.sign({ sub: 'alice' }) })
  t.equal(await seen.promise, 3, 'a number, as the schema says')
})

t.test('a schema failure is checked after authentication: without a token, 401 missing_token', async (t) => {
  const server = await tetherTest(t, {
    routes (app) {
      app.ws('/x/:id', { schema: { params: Params } }, async () => {})
    }
  })
  const refusal = await server.expectRefusal('/x/abc')
  t.same([refusal.status, refusal.error], [401, 'missing_token'])
})
