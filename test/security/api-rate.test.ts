import { request } from 'node:https'
import t, { type Test } from 'tap'
import { withTimeout } from 'fastify-tether/testing'
import { build, type Built } from '../helper.js'

// Finding 5: the HTTP endpoints that mint, push or authenticate are limited per client IP (before
// authentication, so failed attempts count) and per user (after it): API_RATE_PER_MIN, 429
// rate_limited with Retry-After and tether's body, logged and counted in app.tether.refusals.

interface Answer { status: number, retryAfter: string | undefined, body: Record<string, unknown> }

async function post (built: Built, path: string, options: { token?: string, body?: unknown, from?: string } = {}): Promise<Answer> {
  return await withTimeout(new Promise<Answer>((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`
    const req = request(`${built.url}${path}`, { method: 'POST', ca: built.ca, headers, ...(options.from === undefined ? {} : { localAddress: options.from }) }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { text += chunk })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'], body: JSON.parse(text) as Record<string, unknown> }))
    })
    req.on('error', reject)
    req.end(JSON.stringify(options.body ?? {}))
  }), `for POST ${path}`)
}

function limited (t: Test, answer: Answer, what: string): void {
  t.equal(answer.status, 429, what)
  t.equal(answer.body['error'], 'rate_limited')
  t.match(answer.retryAfter, /^\d+$/)
  t.ok(Number(answer.retryAfter) > 0 && Number(answer.retryAfter) <= 60)
}

t.test('/auth/ticket: API_RATE_PER_MIN per IP, failed authentications included', async (t) => {
  const built = await build(t, { tether: { httpRatePerMin: 3 } })
  t.equal((await post(built, '/auth/ticket', { token: 'not-a-jwt' })).status, 401)
  t.equal((await post(built, '/auth/ticket')).status, 401)
  t.equal((await post(built, '/auth/ticket', { token: built.token({ sub: 'alice' }) })).status, 200)
  limited(t, await post(built, '/auth/ticket', { token: built.token({ sub: 'alice' }) }), 'the 4th request from this IP')
  t.equal(built.app.tether.refusals['rate_limited'], 1)
  await built.logs.waitFor((line) => line.msg === 'request refused' && line['reason'] === 'rate_limited', 'the refusal line')
  t.equal((await post(built, '/auth/ticket', { token: built.token({ sub: 'bob' }), from: '127.0.0.2' })).status, 200, 'another IP has its own budget')
})

t.test('/auth/ticket: API_RATE_PER_MIN per user, whatever the IP', async (t) => {
  const built = await build(t, { tether: { httpRatePerMin: 2 } })
  const alice = built.token({ sub: 'alice' })
  t.equal((await post(built, '/auth/ticket', { token: alice, from: '127.0.0.2' })).status, 200)
  t.equal((await post(built, '/auth/ticket', { token: alice, from: '127.0.0.3' })).status, 200)
  limited(t, await post(built, '/auth/ticket', { token: alice, from: '127.0.0.4' }), 'alice\'s 3rd ticket, from a third IP')
  t.equal((await post(built, '/auth/ticket', { token: built.token({ sub: 'bob' }), from: '127.0.0.4' })).status, 200, 'bob is not limited by alice')
})

t.test('/api/notify: per IP and per user', async (t) => {
  const built = await build(t, { tether: { httpRatePerMin: 2 } })
  const notifier = built.token({ sub: 'svc', scope: 'notify' })
  for (let i = 0; i < 2; i++) t.equal((await post(built, '/api/notify/alice', { token: notifier, body: { text: 'hi' } })).status, 202)
  limited(t, await post(built, '/api/notify/alice', { token: notifier, body: { text: 'hi' } }), 'the 3rd push from this IP')
  limited(t, await post(built, '/api/notify/alice', { token: notifier, body: { text: 'hi' }, from: '127.0.0.2' }), 'the same user from another IP')
  t.equal(built.app.tether.refusals['rate_limited'], 2)
})

t.test('/auth/dev-token (when enabled): per IP', async (t) => {
  const built = await build(t, { config: { devTokens: true }, tether: { httpRatePerMin: 2 } })
  for (let i = 0; i < 2; i++) t.equal((await post(built, '/auth/dev-token', { body: { sub: `user-${i}` } })).status, 200)
  limited(t, await post(built, '/auth/dev-token', { body: { sub: 'user-3' } }), 'the 3rd mint from this IP')
})

t.test('API_RATE_PER_MIN=0 disables the limits', async (t) => {
  const built = await build(t, { tether: { httpRatePerMin: 0 } })
  const token = built.token({ sub: 'alice' })
  for (let i = 0; i < 10; i++) t.equal((await post(built, '/auth/ticket', { token })).status, 200)
  t.same(built.app.tether.refusals, {})
})
