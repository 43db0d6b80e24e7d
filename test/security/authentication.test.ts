import t, { type Test } from 'tap'
import { build, type Built } from '../helper.js'
import { collect } from 'fastify-tether/testing'
import { attemptRefused } from './refusal.js'
import { epoch, forgeToken } from './tokens.js'

const mfa = { amr: ['pwd', 'mfa'] }

/** The secret the app under test verifies with, read back from its config. */
function secretOf (built: Built): string {
  return built.app.config.jwtSecret
}

function bearer (token: string): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${token}` } }
}

async function refusedFeed (t: Test, built: Built, options: object, status: number, error: string): Promise<void> {
  const refusal = await attemptRefused(`${built.wsUrl}/ws/feed`, { ca: built.ca, ...options })
  t.equal(refusal.status, status)
  t.equal(refusal.body.error, error)
  t.type(refusal.body.message, 'string')
  t.equal(refusal.opened, false, 'no socket was ever opened')
  t.equal(built.handlerRuns('/ws/feed'), 0, 'the route handler never ran')
  t.equal(built.app.feed.attached, 0, 'nothing was attached to the feed')
}

t.test('no token: 401 missing_token, logged once at info with the reason and IP, and counted', async (t) => {
  const built = await build(t)
  await refusedFeed(t, built, {}, 401, 'missing_token')
  const lines = built.logs.lines.filter((l) => l.msg === 'upgrade refused')
  t.equal(lines.length, 1)
  t.match(lines[0], { level: 30, reason: 'missing_token', ip: '127.0.0.1', statusCode: 401 })
  t.equal(built.app.tether.refusals['missing_token'], 1)
})

t.test('a token with a bad signature: 401 invalid_token', async (t) => {
  const built = await build(t)
  const token = forgeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', exp: epoch(300), ...mfa }, 'not-the-server-secret-not-the-server-secret')
  await refusedFeed(t, built, bearer(token), 401, 'invalid_token')
})

t.test('a token with alg none: 401 invalid_token', async (t) => {
  const built = await build(t)
  const token = forgeToken({ alg: 'none', typ: 'JWT' }, { sub: 'alice', exp: epoch(300), ...mfa }, null)
  await refusedFeed(t, built, bearer(token), 401, 'invalid_token')
})

t.test('an HS512 token signed with the right secret: 401 invalid_token (algorithm pinned)', async (t) => {
  const built = await build(t)
  const token = forgeToken({ alg: 'HS512', typ: 'JWT' }, { sub: 'alice', exp: epoch(300), ...mfa }, secretOf(built))
  await refusedFeed(t, built, bearer(token), 401, 'invalid_token')
})

t.test('an expired token: 401 invalid_token', async (t) => {
  const built = await build(t)
  const token = forgeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', exp: epoch(-10), ...mfa }, secretOf(built))
  await refusedFeed(t, built, bearer(token), 401, 'invalid_token')
})

t.test('a token without exp: 401 invalid_token', async (t) => {
  const built = await build(t)
  const token = forgeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', ...mfa }, secretOf(built))
  await refusedFeed(t, built, bearer(token), 401, 'invalid_token')
})

t.test('a token with nbf in the future: 401 invalid_token', async (t) => {
  const built = await build(t)
  const token = forgeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', exp: epoch(600), nbf: epoch(300), ...mfa }, secretOf(built))
  await refusedFeed(t, built, bearer(token), 401, 'invalid_token')
})

t.test('a malformed Authorization header: 401 invalid_token', async (t) => {
  const built = await build(t)
  await refusedFeed(t, built, { headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } }, 401, 'invalid_token')
})

t.test('a valid token without MFA: 403 mfa_required', async (t) => {
  const built = await build(t)
  await refusedFeed(t, built, bearer(built.token({ sub: 'alice', amr: ['pwd'] })), 403, 'mfa_required')
})

t.test('a bearer token reaches the handler with request.user.sub set', async (t) => {
  const built = await build(t, {
    routes (app) {
      app.ws('/test/whoami', async (connection) => {
        await connection.send(JSON.stringify({ sub: connection.request.user.sub, amr: connection.request.user.amr }))
      })
    }
  })
  const ws = await built.connect('/test/whoami', bearer(built.token({ sub: 'alice', ...mfa })))
  const [reply] = await collect(ws, 1)
  t.same(JSON.parse(String(reply)), { sub: 'alice', amr: ['pwd', 'mfa'] })
})

t.test('MFA feed: a token with amr mfa gets ticks', async (t) => {
  const built = await build(t, { config: { feedIntervalMs: 10 } })
  const ws = await built.connect('/ws/feed', bearer(built.token({ sub: 'alice', ...mfa })))
  const [tick] = await collect(ws, 1)
  t.match(JSON.parse(String(tick)), { type: 'tick' })
})
