import { request } from 'node:https'
import t from 'tap'
import { build, type Built } from '../helper.js'
import { collectJson } from 'fastify-tether/testing'

interface FeedEvent { type: string, text?: string, at?: string, error?: string, topic?: string }

async function notify (built: Built, user: string, token: string | null, body: object = { text: `hello ${user}` }): Promise<{ status: number, body: Record<string, unknown> }> {
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request(`${built.url}/api/notify/${user}`, {
      method: 'POST',
      ca: built.ca,
      headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) }
    }, resolve).on('error', reject).end(JSON.stringify(body))
  })
  let text = ''
  for await (const chunk of response) text += String(chunk)
  return { status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }
}

const feedOf = (built: Built, sub: string): ReturnType<Built['connect']> =>
  built.connect('/ws/feed', { headers: { authorization: `Bearer ${built.token({ sub, amr: ['mfa'] })}` } })

const isNotification = (e: FeedEvent): boolean => e.type === 'notification'

t.test('a notification reaches every feed of its user and no one else', async (t) => {
  const built = await build(t, { config: { feedIntervalMs: 60_000 } })
  const alice = await feedOf(built, 'alice')
  const aliceAgain = await feedOf(built, 'alice')
  const bob = await feedOf(built, 'bob')
  const bobSaw: FeedEvent[] = []
  bob.on('message', (m) => bobSaw.push(JSON.parse(String(m)) as FeedEvent))
  const got = [alice, aliceAgain].map((ws) => collectJson<FeedEvent>(ws, 1, isNotification))
  const service = built.token({ sub: 'billing-service', scope: 'read notify' })
  const answer = await notify(built, 'alice', service, { text: 'your invoice is ready' })
  t.same(answer, { status: 202, body: { status: 'accepted' } })
  for (const events of await Promise.all(got)) {
    t.match(events[0], { type: 'notification', text: 'your invoice is ready' })
    t.equal(new Date(events[0]?.at ?? '').toISOString(), events[0]?.at)
  }
  const bobGot = collectJson<FeedEvent>(bob, 1, isNotification)
  await notify(built, 'bob', service, { text: 'for bob' })
  t.match(await bobGot, [{ text: 'for bob' }])
  t.notOk(bobSaw.some((e) => e.text === 'your invoice is ready'), 'bob never saw alice\'s notification')
})

t.test('subscribing to another user\'s topic is forbidden, and that user\'s notifications never arrive', async (t) => {
  const built = await build(t, { config: { feedIntervalMs: 60_000 } })
  const alice = await feedOf(built, 'alice')
  const aliceSaw: FeedEvent[] = []
  alice.on('message', (m) => aliceSaw.push(JSON.parse(String(m)) as FeedEvent))
  const refused = collectJson<FeedEvent>(alice, 1, (e) => e.type === 'error')
  alice.send(JSON.stringify({ type: 'subscribe', topic: 'user:bob' }))
  t.same(await refused, [{ type: 'error', error: 'forbidden', topic: 'user:bob' }])
  const own = collectJson<FeedEvent>(alice, 1, (e) => e.type === 'subscribed')
  alice.send(JSON.stringify({ type: 'subscribe', topic: 'user:alice' }))
  t.same(await own, [{ type: 'subscribed', topic: 'user:alice' }])
  const service = built.token({ sub: 'svc', scope: 'notify' })
  await notify(built, 'bob', service, { text: 'secret for bob' })
  const marker = collectJson<FeedEvent>(alice, 1, isNotification)
  await notify(built, 'alice', service, { text: 'for alice' })
  t.match(await marker, [{ text: 'for alice' }], 'a later notification of her own arrives')
  t.notOk(aliceSaw.some((e) => e.text === 'secret for bob'), 'bob\'s notification never reached alice')
  t.equal(built.app.hub.subscriberCount('user:bob'), 0)
})

t.test('notify without the notify scope: 403 insufficient_scope; without a token: 401', async (t) => {
  const built = await build(t)
  const noScope = await notify(built, 'alice', built.token({ sub: 'svc', scope: 'read write' }))
  t.same([noScope.status, noScope.body['error']], [403, 'insufficient_scope'])
  const noToken = await notify(built, 'alice', null)
  t.same([noToken.status, noToken.body['error']], [401, 'missing_token'])
  const bad = await notify(built, 'alice', built.token({ sub: 'svc', scope: 'notify' }), { text: '' })
  t.equal(bad.status, 400, 'an empty text is refused by the schema')
})
