import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { request } from 'node:https'
import fastifyJwt from '@fastify/jwt'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import t, { type Test } from 'tap'
import { ConfigError, fastifyJwtAuth, secureServerOptions, tetherPlugin, type TetherSettings } from 'fastify-tether'
import { listen, testCertificates, type TestServer } from 'fastify-tether/testing'
import { epoch, schemeRoutes, sharedBehaviours, signWith } from './support.js'

// fastifyJwtAuth(): the host registered @fastify/jwt (here without requiredClaims) for its own
// HTTP routes; tether reuses it, and still requires exp on WebSocket routes.

interface HostOptions {
  settings?: Partial<TetherSettings>
  /** @fastify/jwt's verify options. */
  verify?: Record<string, unknown>
}

/** A host app: @fastify/jwt, then tether with fastifyJwtAuth(), the scheme routes and GET /api/me. */
async function host (t: Test, options: HostOptions = {}): Promise<TestServer & { secret: string }> {
  const certificates = await testCertificates()
  const secret = randomBytes(32).toString('base64url')
  const app = Fastify({ https: secureServerOptions({ cert: certificates.cert, key: certificates.key }, 10_000) } as FastifyServerOptions) as unknown as FastifyInstance
  await app.register(fastifyJwt, { secret, ...(options.verify === undefined ? {} : { verify: options.verify }) })
  await app.register(tetherPlugin, { auth: fastifyJwtAuth(), ...options.settings })
  schemeRoutes(app)
  app.get('/api/me', {
    onRequest: async (request) => { await request.jwtVerify() }
  }, async (request) => ({ user: request.user }))
  return { ...await listen(t, app, { ca: certificates.ca, secret }), secret }
}

/** GET over https trusting the test CA. */
async function get (server: TestServer, path: string, token: string): Promise<{ status: number, body: Record<string, unknown> }> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    request(`${server.url}${path}`, { ca: server.ca, headers: { authorization: `Bearer ${token}` }, timeout: 5_000 }, resolve)
      .on('error', reject)
      .on('timeout', function (this: { destroy: (error: Error) => void }) { this.destroy(new Error('GET timed out')) })
      .end()
  })
  let text = ''
  for await (const chunk of response) text += String(chunk)
  return { status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }
}

t.test('a token signed with the host\'s secret opens the WebSocket route and the host\'s HTTP route', async (t) => {
  const server = await host(t)
  const token = signWith(server.secret, 'HS256', { sub: 'alice', exp: epoch(60) })
  const client = await server.connect('/who', { token })
  t.same(await client.nextJson(), { type: 'hello', sub: 'alice' })
  const me = await get(server, '/api/me', token)
  t.equal(me.status, 200)
  t.match(me.body, { user: { sub: 'alice' } })
})

t.test('a token without exp: the host\'s HTTP route accepts it, the tether route refuses it 401 invalid_token', async (t) => {
  const server = await host(t)
  const token = signWith(server.secret, 'HS256', { sub: 'alice' })
  const me = await get(server, '/api/me', token)
  t.equal(me.status, 200, 'the host did not require exp for its own routes')
  const refusal = await server.expectRefusal('/who', { token })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('a token with a bad signature is refused by both, 401 invalid_token on the tether route', async (t) => {
  const server = await host(t)
  const token = signWith(randomBytes(32).toString('base64url'), 'HS256', { sub: 'alice', exp: epoch(60) })
  t.equal((await get(server, '/api/me', token)).status, 401)
  const refusal = await server.expectRefusal('/who', { token })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('the host\'s verify options apply on the tether route too (allowedIss)', async (t) => {
  const server = await host(t, { verify: { allowedIss: 'https://host.example' } })
  const good = signWith(server.secret, 'HS256', { sub: 'alice', exp: epoch(60), iss: 'https://host.example' })
  const client = await server.connect('/who', { token: good })
  t.same(await client.nextJson(), { type: 'hello', sub: 'alice' })
  const refusal = await server.expectRefusal('/who', { token: signWith(server.secret, 'HS256', { sub: 'alice', exp: epoch(60), iss: 'https://evil.example' }) })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
})

t.test('no Authorization header and no ticket is refused 401 missing_token', async (t) => {
  const server = await host(t)
  const refusal = await server.expectRefusal('/who')
  t.same([refusal.status, refusal.error], [401, 'missing_token'])
})

t.test('a namespaced @fastify/jwt is used through fastifyJwtAuth({ namespace })', async (t) => {
  const certificates = await testCertificates()
  const secret = randomBytes(32).toString('base64url')
  const app = Fastify({ https: secureServerOptions({ cert: certificates.cert, key: certificates.key }, 10_000) } as FastifyServerOptions) as unknown as FastifyInstance
  await app.register(fastifyJwt, { secret: randomBytes(32).toString('base64url'), namespace: 'api' })
  await app.register(fastifyJwt, { secret, namespace: 'ws' })
  await app.register(tetherPlugin, { auth: fastifyJwtAuth({ namespace: 'ws' }) })
  schemeRoutes(app)
  const server = await listen(t, app, { ca: certificates.ca, secret })
  const client = await server.connect('/who', { token: server.sign({ sub: 'alice' }) })
  t.same(await client.nextJson(), { type: 'hello', sub: 'alice' })
})

t.test('without the host\'s @fastify/jwt, registering tether with fastifyJwtAuth() fails with a ConfigError', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(tetherPlugin, { auth: fastifyJwtAuth() }) }, ConfigError)
})

t.test('a namespace the host did not register fails with a ConfigError', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyJwt, { secret: 'a secret long enough for HS256 tests' })
  await t.rejects(async () => { await app.register(tetherPlugin, { auth: fastifyJwtAuth({ namespace: 'nope' }) }) }, { name: 'ConfigError', message: /namespace "nope"/ })
})

t.test('host @fastify/jwt: tickets, expiry, refresh and caps', async (t) => {
  let secret = ''
  sharedBehaviours(t, {
    start: async (t, settings = {}) => {
      const server = await host(t, { settings })
      secret = server.secret
      return server
    },
    credentials: (sub, exp) => ({ token: signWith(secret, 'HS256', { sub, exp }) }),
    refresh: (sub, exp) => signWith(secret, 'HS256', { sub, exp })
  })
})
