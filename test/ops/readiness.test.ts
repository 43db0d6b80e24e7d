import type { IncomingMessage } from 'node:http'
import { request } from 'node:https'
import t from 'tap'
import { ConfigError, TETHER_DEFAULTS } from 'fastify-tether'
import { LogCapture, testCertificates, waitEvent, withTimeout } from 'fastify-tether/testing'
import pino from 'pino'
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'
import { build, type Built } from '../helper.js'
import { controllableRedisUnavailable, testRedis } from '../redis.js'

// Item 3 of the "Operations" issue: /health is liveness, /ready is readiness (starting, draining,
// a required backplane down), both cheap, unauthenticated, outside rate limits and not logged at info.

interface Answer { status: number, body: unknown, headers: IncomingMessage['headers'] }

async function get (built: Pick<Built, 'url' | 'ca'>, path: string): Promise<Answer> {
  const response = await withTimeout(new Promise<IncomingMessage>((resolve, reject) => {
    request(`${built.url}${path}`, { ca: built.ca, agent: false }, resolve).on('error', reject).end()
  }), `for GET ${path}`)
  let text = ''
  response.on('data', (chunk: Buffer) => { text += chunk.toString() })
  await waitEvent(response, 'end')
  return { status: response.statusCode ?? 0, body: JSON.parse(text), headers: response.headers }
}

/** Every log line of a request to `path` (Fastify's request lines carry `req.url`, later lines `reqId`). */
function linesOf (built: Built, path: string): unknown[] {
  const ids = new Set(built.logs.lines.filter((line) => (line['req'] as { url?: string } | undefined)?.url === path).map((line) => line['reqId']))
  return built.logs.lines.filter((line) => ids.has(line['reqId']) || (line['req'] as { url?: string } | undefined)?.url === path)
}

t.test('while starting (ready, not listening yet) /ready answers 503 starting; /health is 200', async (t) => {
  const certs = await testCertificates()
  const config = { ...loadConfig({}), host: '127.0.0.1', port: 0, tether: { ...TETHER_DEFAULTS } }
  const app = await buildApp({ config, certificate: { cert: certs.cert, key: certs.key }, loggerInstance: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  t.same(app.tether.readiness(), { ready: false, reasons: ['starting'] }, 'before ready()')
  await app.ready() // inject() would do the same: onReady has run, but nothing listens yet
  const ready = await app.inject('/ready')
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { status: 'not_ready', reasons: ['starting'] })
  t.equal((await app.inject('/health')).statusCode, 200, 'liveness does not wait for the listener')
  await app.listen({ host: '127.0.0.1', port: 0 })
  const listening = await app.inject('/ready')
  t.same([listening.statusCode, listening.json()], [200, { status: 'ready' }], 'ready once listening')
})

t.test('ready: 200 {"status":"ready"}, no-store, unauthenticated, never rate limited, not logged at info', async (t) => {
  const built = await build(t, { tether: { httpRatePerMin: 2, handshakeRatePerMin: 2 } })
  for (let i = 0; i < 10; i++) {
    const ready = await get(built, '/ready')
    const health = await get(built, '/health')
    if (ready.status !== 200 || health.status !== 200) t.fail(`request ${i}: /ready ${ready.status}, /health ${health.status}`)
  }
  const ready = await get(built, '/ready')
  t.same([ready.status, ready.body], [200, { status: 'ready' }])
  t.equal(ready.headers['cache-control'], 'no-store')
  t.same((await get(built, '/health')).body, { status: 'ok' })
  // A marker request that is logged at info: every line before it has been written.
  await withTimeout(new Promise<void>((resolve, reject) => {
    request(`${built.url}/marker-after-probes`, { ca: built.ca, agent: false }, (response) => { response.resume(); response.on('end', resolve) }).on('error', reject).end()
  }), 'for the marker')
  await built.logs.waitFor((line) => (line['req'] as { url?: string } | undefined)?.url === '/marker-after-probes', 'the marker line')
  t.same(linesOf(built, '/ready'), [], 'no log line for /ready')
  t.same(linesOf(built, '/health'), [], 'no log line for /health')
  t.same(built.app.tether.refusals, {}, 'nothing refused')
})

t.test('draining: /ready 503 draining, /health 503 shutting_down (unchanged)', async (t) => {
  const built = await build(t)
  t.equal((await get(built, '/ready')).status, 200)
  const drained = built.app.tether.drain()
  const ready = await get(built, '/ready')
  t.same([ready.status, ready.body], [503, { status: 'not_ready', reasons: ['draining'] }])
  const health = await get(built, '/health')
  t.same([health.status, health.body], [503, { status: 'shutting_down' }])
  await drained
  t.same(built.app.tether.readiness(), { ready: false, reasons: ['draining'] })
})

t.test('READY_REQUIRES_BACKPLANE needs REDIS_URL, and is read as a switch', async (t) => {
  t.throws(() => loadConfig({ READY_REQUIRES_BACKPLANE: 'on' }), ConfigError)
  t.equal(loadConfig({ READY_REQUIRES_BACKPLANE: 'on', REDIS_URL: 'redis://127.0.0.1:6379' }).readyRequiresBackplane, true)
  t.equal(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).readyRequiresBackplane, false)
  t.throws(() => loadConfig({ READY_REQUIRES_BACKPLANE: 'maybe' }), ConfigError)
})

t.test('a required backplane down (redis-server SIGKILLed): /ready 503 backplane_down until it is back; /health stays 200', { skip: controllableRedisUnavailable() }, async (t) => {
  const redis = await testRedis(t, true)
  const built = await build(t, { config: { redisUrl: redis.url, readyRequiresBackplane: true } })
  const logs: LogCapture = built.logs
  t.equal(built.app.hub.backplane.connected, true, 'connected once started')
  t.same((await get(built, '/ready')).body, { status: 'ready' })

  await redis.stop()
  await logs.waitFor((line) => line.msg?.startsWith('backplane: lost the redis connection') === true, 'the outage line')
  t.equal(built.app.hub.backplane.connected, false)
  const down = await get(built, '/ready')
  t.same([down.status, down.body], [503, { status: 'not_ready', reasons: ['backplane_down'] }])
  t.equal((await get(built, '/health')).status, 200, 'liveness is not readiness')
  t.same(built.app.tether.readiness(), { ready: true, reasons: [] }, 'without requireBackplane the instance is still ready')

  const connectedBefore = logs.lines.filter((line) => line.msg === 'backplane: redis connected').length
  await redis.start()
  await logs.waitFor((line) => line.msg === 'backplane: redis connected' && logs.lines.filter((l) => l.msg === 'backplane: redis connected').length > connectedBefore, 'the reconnection', 10_000)
  const back = await get(built, '/ready')
  t.same([back.status, back.body], [200, { status: 'ready' }])
})
