import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { ConfigError, jwtAuth, type JwtJwksOptions } from 'fastify-tether'
import { tetherTest, type TestServer } from 'fastify-tether/testing'
import { epoch, forgeToken, keyPair, schemeRoutes, signWith, type KeyPair } from './support.js'

// jwtAuth({ jwksUrl, issuer, audience }): keys from a key set on a loopback http server the test
// starts (http is accepted on loopback hosts only), chosen by kid, cached, refetched on rotation.

const ISSUER = 'https://id.example.test/'
const AUDIENCE = 'chat'

/** A JWK of `keys`' public key, with `kid` and, unless `alg` is null, `alg`. */
function jwkOf (keys: KeyPair, kid: string, alg: string | null): Record<string, unknown> {
  return { ...keys.publicKeyObject.export({ format: 'jwk' }), kid, use: 'sig', ...(alg === null ? {} : { alg }) }
}

interface KeySetServer {
  url: string
  /** How many times the key set was fetched. */
  readonly fetches: number
  /** Replaces the published keys (a rotation). */
  publish: (keys: Array<Record<string, unknown>>) => void
}

async function close (t: Test, server: Server): Promise<void> {
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
}

/** Serves `{"keys":[...]}` at /keys/jwks.json on 127.0.0.1 and an ephemeral port. */
async function keySetServer (t: Test, keys: Array<Record<string, unknown>>): Promise<KeySetServer> {
  let published = keys
  let fetches = 0
  const server = createServer((request, response) => {
    if (request.url !== '/keys/jwks.json?v=1') {
      response.writeHead(404).end()
      return
    }
    fetches++
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published }))
  })
  await close(t, server)
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys/jwks.json?v=1`,
    get fetches () { return fetches },
    publish: (keys) => { published = keys }
  }
}

async function start (t: Test, jwksUrl: string, options: Partial<JwtJwksOptions> = {}): Promise<TestServer> {
  return await tetherTest(t, { tether: { auth: jwtAuth({ jwksUrl, issuer: ISSUER, audience: AUDIENCE, ...options }) }, routes: schemeRoutes })
}

const claims = (sub: string): Record<string, unknown> => ({ sub, exp: epoch(60), iss: ISSUER, aud: AUDIENCE })

const rsa = keyPair('RS256')
const ec = keyPair('ES256')
const ed = keyPair('EdDSA')

t.test('a token signed with the key its kid names opens the route; the key set is fetched once and cached', async (t) => {
  const keySet = await keySetServer(t, [jwkOf(rsa, 'rsa-1', 'RS256')])
  const server = await start(t, keySet.url)
  for (const sub of ['alice', 'bob']) {
    const client = await server.connect('/who', { token: signWith(rsa.privateKey, 'RS256', claims(sub), 'rsa-1') })
    t.same(await client.nextJson(), { type: 'hello', sub })
  }
  t.equal(keySet.fetches, 1)
})

t.test('ES256 and EdDSA (OKP) keys from the key set verify too', async (t) => {
  const keySet = await keySetServer(t, [jwkOf(ec, 'ec-1', 'ES256'), jwkOf(ed, 'ed-1', 'EdDSA')])
  const server = await start(t, keySet.url)
  const viaEc = await server.connect('/who', { token: signWith(ec.privateKey, 'ES256', claims('ec-user'), 'ec-1') })
  t.same(await viaEc.nextJson(), { type: 'hello', sub: 'ec-user' })
  const viaEd = await server.connect('/who', { token: signWith(ed.privateKey, 'EdDSA', claims('ed-user'), 'ed-1') })
  t.same(await viaEd.nextJson(), { type: 'hello', sub: 'ed-user' })
})

t.test('a token from another issuer, for another audience, or without iss is refused 401 invalid_token', async (t) => {
  const keySet = await keySetServer(t, [jwkOf(rsa, 'rsa-1', 'RS256')])
  const server = await start(t, keySet.url)
  const variants = [{ iss: 'https://evil.example/' }, { aud: 'billing' }, { iss: undefined }, { aud: undefined }]
  for (const variant of variants) {
    const token = signWith(rsa.privateKey, 'RS256', JSON.parse(JSON.stringify({ ...claims('alice'), ...variant })) as Record<string, unknown>, 'rsa-1')
    const refusal = await server.expectRefusal('/who', { token })
    t.same([refusal.status, refusal.error], [401, 'invalid_token'], JSON.stringify(variant))
  }
})

t.test('a token with an unknown kid makes the server fetch the key set again, and is refused 401 invalid_token', async (t) => {
  const keySet = await keySetServer(t, [jwkOf(rsa, 'rsa-1', 'RS256')])
  const server = await start(t, keySet.url)
  const client = await server.connect('/who', { token: signWith(rsa.privateKey, 'RS256', claims('alice'), 'rsa-1') })
  await client.nextJson()
  t.equal(keySet.fetches, 1)
  const refusal = await server.expectRefusal('/who', { token: signWith(rsa.privateKey, 'RS256', claims('alice'), 'rsa-9') })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
  t.equal(keySet.fetches, 2, 'the key set was asked again for the unknown kid')
})

t.test('after a key rotation, a token signed with the new kid is accepted without a restart', async (t) => {
  const next = keyPair('RS256')
  const keySet = await keySetServer(t, [jwkOf(rsa, 'rsa-1', 'RS256')])
  const server = await start(t, keySet.url)
  const before = await server.connect('/who', { token: signWith(rsa.privateKey, 'RS256', claims('alice'), 'rsa-1') })
  t.same(await before.nextJson(), { type: 'hello', sub: 'alice' })
  keySet.publish([jwkOf(next, 'rsa-2', 'RS256')])
  const after = await server.connect('/who', { token: signWith(next.privateKey, 'RS256', claims('bob'), 'rsa-2') })
  t.same(await after.nextJson(), { type: 'hello', sub: 'bob' })
  t.equal(keySet.fetches, 2)
})

t.test('a token without kid, or with alg none, is refused without fetching the key set', async (t) => {
  const keySet = await keySetServer(t, [jwkOf(rsa, 'rsa-1', 'RS256')])
  const server = await start(t, keySet.url)
  for (const token of [
    signWith(rsa.privateKey, 'RS256', claims('alice')),
    forgeToken({ alg: 'none', kid: 'rsa-1' }, claims('alice'), null)
  ]) {
    const refusal = await server.expectRefusal('/who', { token })
    t.same([refusal.status, refusal.error], [401, 'invalid_token'])
  }
  t.equal(keySet.fetches, 0)
})

t.test('an HS256 token signed with the public key PEM of a listed kid is refused (algorithm confusion)', async (t) => {
  const keySet = await keySetServer(t, [jwkOf(rsa, 'rsa-1', null)])
  const server = await start(t, keySet.url)
  const token = forgeToken({ alg: 'HS256', kid: 'rsa-1' }, claims('alice'), rsa.publicKey)
  const refusal = await server.expectRefusal('/who', { token })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('a token whose alg does not suit the key its kid names is refused 401 invalid_token', async (t) => {
  // The RSA JWK carries no alg, so only the key type can tell that ES256 does not belong to it.
  const keySet = await keySetServer(t, [jwkOf(rsa, 'rsa-1', null)])
  const server = await start(t, keySet.url)
  const refusal = await server.expectRefusal('/who', { token: signWith(ec.privateKey, 'ES256', claims('alice'), 'rsa-1') })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
  t.equal(keySet.fetches, 1)
})

t.test('a key set that does not answer within jwksTimeoutMs refuses the token 401 invalid_token', async (t) => {
  const silent = createServer(() => {}) // accepts the request and never answers
  await close(t, silent)
  const server = await start(t, `http://127.0.0.1:${(silent.address() as AddressInfo).port}/jwks.json`, { jwksTimeoutMs: 200 })
  const refusal = await server.expectRefusal('/who', { token: signWith(rsa.privateKey, 'RS256', claims('alice'), 'rsa-1'), timeoutMs: 3_000 })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('a key set answering 500 refuses the token 401 invalid_token', async (t) => {
  const broken = createServer((_request, response) => { response.writeHead(500, { 'content-type': 'application/json' }).end('{}') })
  await close(t, broken)
  const server = await start(t, `http://127.0.0.1:${(broken.address() as AddressInfo).port}/jwks.json`)
  const refusal = await server.expectRefusal('/who', { token: signWith(rsa.privateKey, 'RS256', claims('alice'), 'rsa-1') })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('jwksUrl options that cannot work are a ConfigError', async (t) => {
  t.throws(() => jwtAuth({ jwksUrl: 'http://id.example.com/jwks.json', issuer: ISSUER }), ConfigError, 'plain http off loopback')
  t.throws(() => jwtAuth({ jwksUrl: 'not a url', issuer: ISSUER }), ConfigError)
  t.throws(() => jwtAuth({ jwksUrl: 'https://id.example.com/jwks.json' } as never), /needs issuer/)
  t.throws(() => jwtAuth({ jwksUrl: 'https://id.example.com/jwks.json', issuer: ISSUER, algorithms: ['HS256' as never] }), ConfigError)
  t.doesNotThrow(() => jwtAuth({ jwksUrl: 'https://id.example.com/jwks.json', issuer: ISSUER }))
  t.doesNotThrow(() => jwtAuth({ jwksUrl: 'http://localhost:8080/jwks.json', issuer: ISSUER }))
})
