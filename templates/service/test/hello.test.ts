import t from 'tap'
import { start } from './helper.js'

t.test('hello refuses a client without a token before the upgrade', async (t) => {
  const server = await start(t)
  const refusal = await server.expectRefusal('/ws/hello')
  t.equal(refusal.status, 401)
  t.equal(refusal.error, 'missing_token')
})

t.test('hello greets the token\'s subject and answers its messages', async (t) => {
  const server = await start(t)
  const client = await server.connect('/ws/hello', { token: server.sign({ sub: 'alice' }) })
  t.equal(await client.next(), 'hello alice')
  client.send('hi')
  t.equal(await client.next(), 'alice: hi')
})

t.test('a browser trades its token for a single-use ticket', async (t) => {
  const server = await start(t)
  const response = await server.app.inject({
    method: 'POST',
    url: '/auth/ticket',
    headers: { authorization: `Bearer ${server.sign({ sub: 'bob' })}` }
  })
  t.equal(response.statusCode, 200)
  const { ticket } = response.json<{ ticket: string }>()
  const client = await server.connect('/ws/hello', { ticket })
  t.equal(await client.next(), 'hello bob')
})
