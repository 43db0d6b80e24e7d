import t from 'tap'
import { ConfigError, jwtAuth } from 'fastify-tether'
import { tetherTest } from 'fastify-tether/testing'
import { epoch, forgeToken, keyPair, schemeRoutes, sharedBehaviours, signWith, type StartServer } from './support.js'

// jwtAuth({ publicKey }): RS256, ES256 and EdDSA, each pinned to its key's algorithm.

for (const algorithm of ['RS256', 'ES256', 'EdDSA'] as const) {
  const keys = keyPair(algorithm)
  const other = keyPair(algorithm)
  const start: StartServer = async (t, settings = {}) =>
    await tetherTest(t, { tether: { auth: jwtAuth({ publicKey: keys.publicKey }), ...settings }, routes: schemeRoutes })

  t.test(`${algorithm}: a token signed with the private key opens the route`, async (t) => {
    const server = await start(t)
    const client = await server.connect('/who', { token: signWith(keys.privateKey, algorithm, { sub: 'alice', exp: epoch(60) }) })
    t.same(await client.nextJson(), { type: 'hello', sub: 'alice' })
  })

  t.test(`${algorithm}: a token signed with another key of the same type is refused 401 invalid_token`, async (t) => {
    const server = await start(t)
    const refusal = await server.expectRefusal('/who', { token: signWith(other.privateKey, algorithm, { sub: 'alice', exp: epoch(60) }) })
    t.same([refusal.status, refusal.error], [401, 'invalid_token'])
  })

  t.test(`${algorithm}: an HS256 token signed with the public key PEM as the secret is refused (algorithm confusion)`, async (t) => {
    const server = await start(t)
    const token = forgeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', exp: epoch(60) }, keys.publicKey)
    const refusal = await server.expectRefusal('/who', { token })
    t.same([refusal.status, refusal.error], [401, 'invalid_token'])
  })

  t.test(`${algorithm}: an unsigned token (alg none) is refused 401 invalid_token`, async (t) => {
    const server = await start(t)
    const refusal = await server.expectRefusal('/who', { token: forgeToken({ alg: 'none' }, { sub: 'alice', exp: epoch(60) }, null) })
    t.same([refusal.status, refusal.error], [401, 'invalid_token'])
  })

  t.test(`${algorithm}: a token without exp is refused 401 invalid_token`, async (t) => {
    const server = await start(t)
    const refusal = await server.expectRefusal('/who', { token: signWith(keys.privateKey, algorithm, { sub: 'alice' }) })
    t.same([refusal.status, refusal.error], [401, 'invalid_token'])
  })
}

t.test('RS256 by default: an RS512 token signed with the same RSA key is refused as an unexpected algorithm', async (t) => {
  const keys = keyPair('RS256')
  const server = await tetherTest(t, { tether: { auth: jwtAuth({ publicKey: keys.publicKey }) }, routes: schemeRoutes })
  const refusal = await server.expectRefusal('/who', { token: signWith(keys.privateKey, 'RS512', { sub: 'alice', exp: epoch(60) }) })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('algorithms: [\'PS256\'] on an RSA key accepts PS256 and refuses RS256', async (t) => {
  const keys = keyPair('RS256')
  const server = await tetherTest(t, { tether: { auth: jwtAuth({ publicKey: keys.publicKey, algorithms: ['PS256'] }) }, routes: schemeRoutes })
  const client = await server.connect('/who', { token: signWith(keys.privateKey, 'PS256', { sub: 'alice', exp: epoch(60) }) })
  t.same(await client.nextJson(), { type: 'hello', sub: 'alice' })
  const refusal = await server.expectRefusal('/who', { token: signWith(keys.privateKey, 'RS256', { sub: 'alice', exp: epoch(60) }) })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('a public key with algorithms that cannot work is a ConfigError', async (t) => {
  const rsa = keyPair('RS256')
  t.throws(() => jwtAuth({ publicKey: rsa.publicKey, algorithms: ['HS256' as never] }), ConfigError, 'HMAC is never allowed with a public key')
  t.throws(() => jwtAuth({ publicKey: rsa.publicKey, algorithms: ['ES256'] }), ConfigError, 'ES256 does not suit an RSA key')
  t.throws(() => jwtAuth({ publicKey: rsa.publicKey, algorithms: [] }), ConfigError, 'no algorithms')
  t.throws(() => jwtAuth({ publicKey: 'not a key' }), ConfigError, 'not a PEM key')
})

t.test('ES256 public key: tickets, expiry, refresh and caps', async (t) => {
  const keys = keyPair('ES256')
  sharedBehaviours(t, {
    start: async (t, settings = {}) => await tetherTest(t, { tether: { auth: jwtAuth({ publicKey: keys.publicKey }), ...settings }, routes: schemeRoutes }),
    credentials: (sub, exp) => ({ token: signWith(keys.privateKey, 'ES256', { sub, exp }) }),
    refresh: (sub, exp) => signWith(keys.privateKey, 'ES256', { sub, exp })
  })
})
