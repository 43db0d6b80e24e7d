import { randomBytes } from 'node:crypto'
import t from 'tap'
import { ConfigError, jwtAuth } from 'fastify-tether'
import { tetherTest, type TestServer } from 'fastify-tether/testing'
import { epoch, forgeToken, schemeRoutes, signWith } from './support.js'

// jwtAuth({ secret }): HS256 with a shared secret, pinned.

const secret = randomBytes(32).toString('base64url')

async function start (t: Parameters<typeof tetherTest>[0], options: { issuer?: string, audience?: string } = {}): Promise<TestServer> {
  return await tetherTest(t, { tether: { auth: jwtAuth({ secret, ...options }) }, routes: schemeRoutes })
}

t.test('an HS256 token signed with the secret opens the route', async (t) => {
  const server = await start(t)
  const client = await server.connect('/who', { token: signWith(secret, 'HS256', { sub: 'alice', exp: epoch(60) }) })
  t.same(await client.nextJson(), { type: 'hello', sub: 'alice' })
})

t.test('a token with a bad signature is refused 401 invalid_token', async (t) => {
  const server = await start(t)
  const token = forgeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', exp: epoch(60) }, 'another secret of the same length')
  const refusal = await server.expectRefusal('/who', { token })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('an unsigned token (alg none) is refused 401 invalid_token', async (t) => {
  const server = await start(t)
  const token = forgeToken({ alg: 'none', typ: 'JWT' }, { sub: 'alice', exp: epoch(60) }, null)
  const refusal = await server.expectRefusal('/who', { token })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('an HS512 token signed with the right secret is refused: the algorithm is pinned to HS256', async (t) => {
  const server = await start(t)
  const token = forgeToken({ alg: 'HS512', typ: 'JWT' }, { sub: 'alice', exp: epoch(60) }, secret)
  const refusal = await server.expectRefusal('/who', { token })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('a token without exp is refused 401 invalid_token', async (t) => {
  const server = await start(t)
  const refusal = await server.expectRefusal('/who', { token: signWith(secret, 'HS256', { sub: 'alice' }) })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('an expired token is refused 401 invalid_token', async (t) => {
  const server = await start(t)
  const refusal = await server.expectRefusal('/who', { token: signWith(secret, 'HS256', { sub: 'alice', exp: epoch(-5) }) })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('a token without sub is refused 401 invalid_token', async (t) => {
  const server = await start(t)
  const refusal = await server.expectRefusal('/who', { token: signWith(secret, 'HS256', { exp: epoch(60) }) })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('an Authorization header that is not Bearer is refused 401 invalid_token', async (t) => {
  const server = await start(t)
  const refusal = await server.expectRefusal('/who', { headers: { authorization: 'Basic YWxpY2U6cHc=' } })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('no credentials at all is refused 401 missing_token', async (t) => {
  const server = await start(t)
  const refusal = await server.expectRefusal('/who')
  t.same([refusal.status, refusal.error], [401, 'missing_token'])
})

t.test('with issuer and audience, a token from another issuer, for another audience, or without iss or aud is refused', async (t) => {
  const server = await start(t, { issuer: 'https://id.example', audience: 'chat' })
  const good = signWith(secret, 'HS256', { sub: 'alice', exp: epoch(60), iss: 'https://id.example', aud: 'chat' })
  const client = await server.connect('/who', { token: good })
  t.same(await client.nextJson(), { type: 'hello', sub: 'alice' })
  for (const claims of [{ iss: 'https://evil.example', aud: 'chat' }, { iss: 'https://id.example', aud: 'billing' }, { iss: 'https://id.example' }, { aud: 'chat' }]) {
    const refusal = await server.expectRefusal('/who', { token: signWith(secret, 'HS256', { sub: 'alice', exp: epoch(60), ...claims }) })
    t.same([refusal.status, refusal.error], [401, 'invalid_token'], JSON.stringify(claims))
  }
})

t.test('jwtAuth refuses options that cannot work with a ConfigError', async (t) => {
  t.throws(() => jwtAuth({ secret: '' }), ConfigError)
  t.throws(() => jwtAuth({} as never), ConfigError)
  t.throws(() => jwtAuth({ secret, publicKey: 'x' } as never), /exactly one of/)
  t.throws(() => jwtAuth({ secret, clockToleranceS: -1 }), ConfigError)
})
