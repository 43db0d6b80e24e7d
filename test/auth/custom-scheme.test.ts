import t, { type Test } from 'tap'
import type { FastifyRequest } from 'fastify'
import { ForbiddenError, InvalidTokenError, type AuthScheme, type TetherSettings, type TokenClaims } from 'fastify-tether'
import { tetherTest, type TestServer } from 'fastify-tether/testing'
import { epoch, schemeRoutes, sharedBehaviours } from './support.js'

// Custom schemes: any object with authenticate(request) returning claims, null (no credentials:
// a ticket is looked for) or throwing a refusal. An API key header (with verifyToken, so the key
// can be refreshed) and a cookie session (no tokens, so auth.refresh is refused).

interface Account extends TokenClaims { revoked?: boolean }

/** API keys in `X-Api-Key`: unknown keys are invalid_token, revoked ones 403 api_key_revoked. */
function apiKeyScheme (keys: Map<string, Account>): AuthScheme {
  const lookup = (key: string): TokenClaims => {
    const account = keys.get(key)
    if (account === undefined) throw new InvalidTokenError('unknown API key')
    if (account.revoked === true) throw new ForbiddenError('api_key_revoked')
    return { sub: account.sub, exp: account.exp }
  }
  return {
    name: 'api-key',
    authenticate (request: FastifyRequest) {
      const key = request.headers['x-api-key']
      if (key === undefined) return null
      if (typeof key !== 'string') throw new InvalidTokenError('one API key only')
      return lookup(key)
    },
    verifyToken: lookup
  }
}

/** Sessions in a `sid` cookie; a suspended account is 403 account_suspended. No verifyToken. */
function sessionScheme (sessions: Map<string, Account & { suspended?: boolean }>): AuthScheme {
  return {
    name: 'session-cookie',
    async authenticate (request: FastifyRequest) {
      const sid = /(?:^|;\s*)sid=([^;]+)/.exec(request.headers.cookie ?? '')?.[1]
      if (sid === undefined) return null
      const session = sessions.get(sid)
      if (session === undefined) throw new InvalidTokenError('no such session')
      if (session.suspended === true) throw new ForbiddenError('account_suspended')
      return { sub: session.sub, exp: session.exp }
    }
  }
}

async function start (t: Test, auth: AuthScheme, settings: Partial<TetherSettings> = {}): Promise<TestServer> {
  return await tetherTest(t, { tether: { auth, ...settings }, routes: schemeRoutes })
}

t.test('API key: a known key opens the route as its account', async (t) => {
  const server = await start(t, apiKeyScheme(new Map([['k-alice', { sub: 'alice', exp: epoch(3600) }]])))
  const client = await server.connect('/who', { headers: { 'x-api-key': 'k-alice' } })
  t.same(await client.nextJson(), { type: 'hello', sub: 'alice' })
})

t.test('API key: an unknown key is refused 401 invalid_token', async (t) => {
  const server = await start(t, apiKeyScheme(new Map()))
  const refusal = await server.expectRefusal('/who', { headers: { 'x-api-key': 'k-guess' } })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('API key: a revoked key is refused 403 with the scheme\'s reason', async (t) => {
  const server = await start(t, apiKeyScheme(new Map([['k-old', { sub: 'alice', exp: epoch(3600), revoked: true }]])))
  const refusal = await server.expectRefusal('/who', { headers: { 'x-api-key': 'k-old' } })
  t.same([refusal.status, refusal.error], [403, 'api_key_revoked'])
})

t.test('no credentials (authenticate returns null) and no ticket is refused 401 missing_token', async (t) => {
  const server = await start(t, apiKeyScheme(new Map()))
  const refusal = await server.expectRefusal('/who')
  t.same([refusal.status, refusal.error], [401, 'missing_token'])
})

t.test('cookie session: a live session opens the route as its user', async (t) => {
  const server = await start(t, sessionScheme(new Map([['s1', { sub: 'bob', exp: epoch(3600) }]])))
  const client = await server.connect('/who', { headers: { cookie: 'theme=dark; sid=s1' } })
  t.same(await client.nextJson(), { type: 'hello', sub: 'bob' })
})

t.test('cookie session: an unknown session is refused 401 invalid_token', async (t) => {
  const server = await start(t, sessionScheme(new Map()))
  const refusal = await server.expectRefusal('/who', { headers: { cookie: 'sid=forged' } })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('cookie session: a suspended account is refused 403 account_suspended', async (t) => {
  const server = await start(t, sessionScheme(new Map([['s2', { sub: 'bob', exp: epoch(3600), suspended: true }]])))
  const refusal = await server.expectRefusal('/who', { headers: { cookie: 'sid=s2' } })
  t.same([refusal.status, refusal.error], [403, 'account_suspended'])
})

t.test('claims without exp, with an empty sub, or already expired are refused 401 invalid_token', async (t) => {
  const answers: unknown[] = [{ sub: 'alice' }, { sub: '', exp: epoch(60) }, { sub: 'alice', exp: epoch(-1) }, 'alice']
  const server = await start(t, { name: 'broken', authenticate: () => answers.shift() })
  for (let i = 0; i < 4; i++) {
    const refusal = await server.expectRefusal('/who')
    t.same([refusal.status, refusal.error], [401, 'invalid_token'])
  }
})

t.test('a scheme that throws something other than a TetherError is refused 401 invalid_token', async (t) => {
  const server = await start(t, { name: 'throws', authenticate: () => { throw new Error('database down') } })
  const refusal = await server.expectRefusal('/who')
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
  t.notMatch(refusal.message, /database/, 'the cause stays on the server')
})

t.test('cookie session (no verifyToken): tickets, expiry, refused refresh and caps', async (t) => {
  const sessions = new Map<string, Account>()
  let next = 0
  sharedBehaviours(t, {
    start: async (t, settings) => await start(t, sessionScheme(sessions), settings),
    credentials: (sub, exp) => {
      const sid = `s${++next}`
      sessions.set(sid, { sub, exp })
      return { headers: { cookie: `sid=${sid}` } }
    },
    refresh: 'refused'
  })
})

t.test('API key (with verifyToken): tickets, expiry, refresh and caps', async (t) => {
  const keys = new Map<string, Account>()
  let next = 0
  const issue = (sub: string, exp: number): string => {
    const key = `k${++next}`
    keys.set(key, { sub, exp })
    return key
  }
  sharedBehaviours(t, {
    start: async (t, settings) => await start(t, apiKeyScheme(keys), settings),
    credentials: (sub, exp) => ({ headers: { 'x-api-key': issue(sub, exp) } }),
    refresh: issue
  })
})
