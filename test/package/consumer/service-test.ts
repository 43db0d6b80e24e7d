// The consumer's own tests, run with `node --test` against the installed tarball: the testing kit
// must work with node:test's `t` as it does with tap's.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { request } from 'node:https'
import test from 'node:test'
import { promisify } from 'node:util'
import { listen, testCertificates, type TestServer } from 'fastify-tether/testing'
import { buildService } from './service.js'

const SECRET = 'a consumer secret of at least thirty-two bytes'

async function start (t: test.TestContext): Promise<TestServer> {
  const certificates = await testCertificates()
  const app = await buildService({ certificate: certificates, secret: SECRET, tickMs: 20 })
  return await listen(t, app, { ca: certificates.ca, secret: SECRET })
}

interface Reply { status: number, headers: Record<string, unknown>, body: Record<string, unknown> }

function https (server: TestServer, method: string, path: string, token?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` }
    const req = request(`${server.url}${path}`, { method, ca: server.ca, headers, timeout: 5_000 }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> }) })
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

test('echo over wss', async (t) => {
  const server = await start(t)
  const client = await server.connect('/ws/echo')
  client.send('hello')
  assert.equal(await client.next(), 'hello')
})

test('the authenticated route refuses without a token and streams the awaited service with one', async (t) => {
  const server = await start(t)
  const refusal = await server.expectRefusal('/ws/ticks')
  assert.equal(refusal.status, 401)
  assert.equal(refusal.error, 'missing_token')

  const client = await server.connect('/ws/ticks', { token: server.sign({ sub: 'alice' }) })
  assert.deepEqual(await client.nextJson(), { type: 'hello', sub: 'alice' })
  const first = await client.nextJson<{ type: string, seq: number }>()
  const second = await client.nextJson<{ type: string, seq: number }>()
  assert.equal(first.type, 'tick')
  assert.equal(second.seq, first.seq + 1)
})

test('a topic route delivers what the host publishes from its own @fastify/jwt route', async (t) => {
  const server = await start(t)
  const client = await server.connect('/ws/news/sports', { token: server.sign({ sub: 'bob' }) })
  assert.deepEqual(await client.nextJson(), { type: 'subscribed' })
  const hostToken = server.app.jwt.sign({ sub: 'editor' })
  const published = await https(server, 'POST', '/api/publish/sports', hostToken)
  assert.equal(published.status, 200)
  assert.deepEqual(published.body, { delivered: 1 })
  assert.deepEqual(await client.nextJson(), { type: 'news', topic: 'sports' })
})

test('the host keeps its own websocket route and its own JWT rules', async (t) => {
  const server = await start(t)
  const legacy = await server.connect('/legacy')
  legacy.send('ping')
  assert.equal(await legacy.next(), 'legacy:ping')

  const me = await https(server, 'GET', '/api/me', server.app.jwt.sign({ sub: 'carol' }))
  assert.equal(me.status, 200)
  assert.equal((me.body['user'] as Record<string, unknown>)['sub'], 'carol')
  assert.equal(me.headers['x-content-type-options'], 'nosniff') // @fastify/helmet

  // tether's tokens lack the host's issuer: the host's rules, not tether's, decide its routes.
  assert.equal((await https(server, 'GET', '/api/me', server.sign({ sub: 'carol' }))).status, 401)
  assert.equal((await https(server, 'GET', '/api/me')).status, 401)
})

test('the main entry loads neither ioredis nor the X.509 stack; the subpaths do', async () => {
  const probe = async (entry: string): Promise<string[]> => {
    const script = `
      import { createRequire } from 'node:module'
      await import(${JSON.stringify(entry)})
      const loaded = Object.keys(createRequire(process.cwd() + '/').cache)
      const heavy = ['ioredis', '@peculiar/x509', 'reflect-metadata'].filter((name) => loaded.some((file) => file.includes('/node_modules/' + name + '/')))
      if (typeof Reflect.getMetadata === 'function' && !heavy.includes('reflect-metadata')) heavy.push('reflect-metadata')
      console.log(JSON.stringify(heavy))`
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 })
    return JSON.parse(stdout) as string[]
  }
  assert.deepEqual(await probe('fastify-tether'), [])
  assert.deepEqual(await probe('fastify-tether/redis'), ['ioredis'])
  assert.deepEqual((await probe('fastify-tether/dev-certs')).sort(), ['@peculiar/x509', 'reflect-metadata'])
})
