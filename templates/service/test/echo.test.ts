import t from 'tap'
import { start } from './helper.js'

t.test('echo answers over wss without a token', async (t) => {
  const server = await start(t)
  const client = await server.connect('/ws/echo')
  client.send('hello')
  t.equal(await client.next(), 'hello')
})

t.test('health answers over https', async (t) => {
  const server = await start(t)
  const response = await server.app.inject({ method: 'GET', url: '/health' })
  t.same(response.json(), { status: 'ok' })
})
