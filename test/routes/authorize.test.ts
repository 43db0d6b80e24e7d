import { Type } from '@sinclair/typebox'
import t, { type Test } from 'tap'
import { deferred, tetherTest, type TestServer } from 'fastify-tether/testing'

// A route's `authorize(request)` runs before the upgrade with the user and the params: a reason
// refuses with 403 and that reason. It runs again on `auth.refresh`: a token it now refuses closes
// the open connection with 1008.

const Params = Type.Object({ room: Type.String({ pattern: '^[0-9]+$' }) })

async function rooms (t: Test): Promise<TestServer> {
  return await tetherTest(t, {
    routes (app) {
      app.ws('/rooms/:room', {
        schema: { params: Params },
        authorize: (request) => (request.user.scope ?? '').split(' ').includes(`room:${request.params.room}`) ? true : 'not_yours',
        messages: { say: { text: Type.String() } }
      }, async (connection) => {
        for await (const message of connection.messages()) await connection.send(JSON.stringify({ type: 'said', text: message.text }))
      })
    }
  })
}

t.test('authorize returning \'not_yours\': 403 not_yours, logged and counted', async (t) => {
  const server = await rooms(t)
  const refusal = await server.expectRefusal('/rooms/7', { token: server.sign({ sub: 'alice', scope: 'room:8' }) })
  t.equal(refusal.status, 403)
  t.same(refusal.body, { error: 'not_yours', message: 'forbidden: not_yours' })
  const line = await server.logs.waitFor((l) => l.msg === 'upgrade refused', 'the refusal line')
  t.equal(line['reason'], 'not_yours')
  t.same(server.app.tether.refusals, { not_yours: 1 })
})

t.test('authorize returning true: the upgrade opens', async (t) => {
  const server = await rooms(t)
  const client = await server.connect('/rooms/7', { token: server.sign({ sub: 'alice', scope: 'room:7' }) })
  client.send({ type: 'say', text: 'hi' })
  t.same(await client.nextJson(), { type: 'said', text: 'hi' })
})

t.test('auth.refresh with a token authorize still allows: auth.refreshed with the new exp', async (t) => {
  const server = await rooms(t)
  const client = await server.connect('/rooms/7', { token: server.sign({ sub: 'alice', scope: 'room:7' }, 60) })
  const fresh = server.sign({ sub: 'alice', scope: 'room:7 room:9' }, 600)
  client.send({ type: 'auth.refresh', token: fresh })
  const answer = await client.nextJson<{ type: string, exp: number }>()
  t.equal(answer.type, 'auth.refreshed')
  t.ok(answer.exp >= Math.floor(Date.now() / 1000) + 590, 'the new token\'s exp')
})

t.test('auth.refresh with a token authorize now refuses: the connection closes with 1008', async (t) => {
  const server = await rooms(t)
  const client = await server.connect('/rooms/7', { token: server.sign({ sub: 'alice', scope: 'room:7' }) })
  client.send({ type: 'auth.refresh', token: server.sign({ sub: 'alice', scope: 'room:8' }) })
  t.same(await client.closed(), { code: 1008, reason: 'forbidden: not_yours' })
  const line = await server.logs.waitFor((l) => l.msg === 'token refresh refused', 'the refresh refusal line')
  t.equal(line['reason'], 'not_yours')
})

t.test('an auth: false route: connection.user and connection.request.user are null at runtime', async (t) => {
  const seen = deferred<{ user: unknown, requestUser: unknown }>()
  const server = await tetherTest(t, {
    routes (app) {
      app.ws('/public', { auth: false }, async (connection) => {
        seen.resolve({ user: connection.user, requestUser: connection.request.user })
      })
    }
  })
  await server.connect('/public')
  const { user, requestUser } = await seen.promise
  t.equal(user, null)
  t.equal(requestUser, null)
})

t.test('an auth: false route ignores a token: request.user stays null', async (t) => {
  const seen = deferred<unknown>()
  const server = await tetherTest(t, {
    routes (app) {
      app.ws('/public', { auth: false }, async (connection) => { seen.resolve(connection.request.user) })
    }
  })
  await server.connect('/public', { token: server.sign({ sub: 'alice' }) })
  t.equal(await seen.promise, null)
})

t.test('tether does not decorate request.user', async (t) => {
  const server = await tetherTest(t)
  t.notOk(server.app.hasRequestDecorator('user'))
})
