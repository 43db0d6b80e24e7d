import { request } from 'node:https'
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import type { WebSocket } from 'ws'
import { build, type Built } from '../helper.js'
import { collectJson } from 'fastify-tether/testing'
import { controllableRedisUnavailable, redisUnavailable, testRedis } from '../redis.js'

interface Event { type: string, text?: string, from?: string }

/** Two instances on different ports sharing one Redis and one JWT secret, like two pods behind a load balancer. */
async function twoInstances (t: Test, redisUrl: string): Promise<[Built, Built]> {
  const jwtSecret = randomBytes(32).toString('base64url')
  const a = await build(t, { config: { redisUrl, jwtSecret, feedIntervalMs: 60_000 } })
  const b = await build(t, { config: { redisUrl, jwtSecret, feedIntervalMs: 60_000 } })
  await Promise.all([a, b].map((built) => built.logs.waitFor((l) => l.msg === 'backplane: redis connected', 'the backplane to connect')))
  return [a, b]
}

const room = (): string => `room-${randomBytes(4).toString('hex')}` // unique, in case REDIS_URL is shared

function chat (built: Built, name: string, sub: string): Promise<WebSocket> {
  return built.connect(`/ws/chat/${name}`, { headers: { authorization: `Bearer ${built.token({ sub })}` } })
}

async function notify (built: Built, user: string, text: string): Promise<number> {
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request(`${built.url}/api/notify/${user}`, {
      method: 'POST',
      ca: built.ca,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${built.token({ sub: 'svc', scope: 'notify' })}` }
    }, resolve).on('error', reject).end(JSON.stringify({ text }))
  })
  response.resume()
  return response.statusCode ?? 0
}

const isSaid = (e: Event): boolean => e.type === 'said'

t.test('a say on instance A reaches members on B exactly once and in order', { skip: redisUnavailable() }, async (t) => {
  const redis = await testRedis(t)
  const [a, b] = await twoInstances(t, redis.url)
  const name = room()
  const onA = await chat(a, name, 'alice')
  const onB = await chat(b, name, 'bob')
  await collectJson<Event>(onA, 1, (e) => e.type === 'joined' && (e as { user?: string }).user === 'bob')
  const texts = Array.from({ length: 20 }, (_, i) => `message ${i}`)
  const seenOnB = collectJson<Event>(onB, 20, isSaid)
  const seenOnA = collectJson<Event>(onA, 20, isSaid)
  for (const text of texts) onA.send(JSON.stringify({ type: 'say', text }))
  t.same((await seenOnB).map((e) => e.text), texts, 'B got all 20, in order')
  t.same((await seenOnA).map((e) => e.text), texts, 'A got all 20 once: its own echo from Redis was dropped')
  const extra = collectJson<Event>(onB, 1, isSaid)
  onB.send(JSON.stringify({ type: 'say', text: 'marker' }))
  t.same((await extra).map((e) => e.text), ['marker'], 'nothing was delivered twice before the marker')
})

t.test('a notify on instance B reaches alice\'s feed on instance A', { skip: redisUnavailable() }, async (t) => {
  const redis = await testRedis(t)
  const [a, b] = await twoInstances(t, redis.url)
  const feed = await a.connect('/ws/feed', { headers: { authorization: `Bearer ${a.token({ sub: 'alice', amr: ['mfa'] })}` } })
  const got = collectJson<Event>(feed, 1, (e) => e.type === 'notification')
  t.equal(await notify(b, 'alice', 'from the other instance'), 202)
  t.match(await got, [{ type: 'notification', text: 'from the other instance' }])
})

t.test('without Redis local delivery goes on; when Redis is back, cross-instance delivery resumes', { skip: controllableRedisUnavailable() }, async (t) => {
  const redis = await testRedis(t, true)
  const [a, b] = await twoInstances(t, redis.url)
  const name = room()
  const onA = await chat(a, name, 'alice')
  const alsoOnA = await chat(a, name, 'anna')
  const onB = await chat(b, name, 'bob')
  await collectJson<Event>(onA, 1, (e) => e.type === 'joined' && (e as { user?: string }).user === 'bob')

  await redis.stop()
  await Promise.all([a, b].map((built) => built.logs.waitFor((l) => (l.msg ?? '').startsWith('backplane: lost the redis connection'), 'the outage to be noticed')))
  const local = collectJson<Event>(alsoOnA, 1, isSaid)
  onA.send(JSON.stringify({ type: 'say', text: 'during the outage' }))
  t.match(await local, [{ text: 'during the outage', from: 'alice' }], 'members on the same instance still get it')
  await a.logs.waitFor((l) => l.msg === 'backplane: publish not sent to other instances (delivered locally)', 'the failed publish to be logged')

  await redis.start()
  await Promise.all([a, b].map((built) => built.logs.waitFor((l) => l.msg === 'backplane: redis connected' && built.logs.lines.filter((x) => x.msg === 'backplane: redis connected').length === 2, 'the backplane to reconnect')))
  const resumed = collectJson<Event>(onB, 1, (e) => isSaid(e) && e.text === 'after the outage')
  onA.send(JSON.stringify({ type: 'say', text: 'after the outage' }))
  t.match(await resumed, [{ text: 'after the outage', from: 'alice' }], 'B receives from A again')
})
