import { Agent, request } from 'node:https'
import t from 'tap'
import { build, type Built } from '../helper.js'
import { deferred, waitClose, withTimeout } from 'fastify-tether/testing'
import { attemptRefused } from '../security/refusal.js'

async function getHealth (built: Built, agent: Agent): Promise<{ status: number, body: string }> {
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request(`${built.url}/health`, { ca: built.ca, agent }, resolve).on('error', reject).end()
  })
  let body = ''
  for await (const chunk of response) body += String(chunk)
  return { status: response.statusCode ?? 0, body }
}

t.test('close() sends 1001 to every socket, aborts handlers, and waits for them to finish', async (t) => {
  const finished = deferred<boolean>()
  const built = await build(t, {
    routes (app) {
      app.ws('/test/cooperative', { auth: false }, async (connection) => {
        await new Promise((resolve) => connection.signal.addEventListener('abort', resolve))
        finished.resolve(connection.signal.aborted)
      })
    }
  })
  const ws = await built.connect('/test/cooperative')
  const closed = waitClose(ws)
  await withTimeout(built.app.close(), 'for close()')
  t.same(await closed, { code: 1001, reason: 'server shutting down' })
  t.equal(await finished.promise, true, 'the handler saw its signal abort and returned')
})

t.test('a handler that ignores its signal is cut off after shutdownTimeoutMs and close() still returns', async (t) => {
  const built = await build(t, {
    tether: { shutdownTimeoutMs: 200 },
    routes (app) {
      app.ws('/test/stubborn', { auth: false }, async () => {
        await new Promise(() => {}) // never settles, never looks at its signal
      })
    }
  })
  const ws = await built.connect('/test/stubborn')
  const closed = waitClose(ws)
  await withTimeout(built.app.close(), 'for close() despite the stubborn handler', 3_000)
  t.equal((await closed).code, 1001)
  await built.logs.waitFor((l) => l.msg === 'terminating websocket that outlived the shutdown timeout', 'the straggler log')
})

t.test('while draining, /health answers 503 and new upgrades get 503 shutting_down', async (t) => {
  const release = deferred()
  const built = await build(t, {
    tether: { shutdownTimeoutMs: 5_000 },
    routes (app) {
      app.ws('/test/holding', { auth: false }, async () => { await release.promise })
    }
  })
  const agent = new Agent()
  t.teardown(() => agent.destroy())
  t.equal((await getHealth(built, agent)).status, 200)
  const held = await built.connect('/test/holding')
  const heldClosed = waitClose(held)
  const draining = built.app.tether.drain()
  t.equal((await heldClosed).code, 1001)
  const health = await getHealth(built, agent)
  t.same([health.status, JSON.parse(health.body)], [503, { status: 'shutting_down' }])
  const refusal = await attemptRefused(`${built.wsUrl}/ws/echo`, { ca: built.ca })
  t.same([refusal.status, refusal.body.error], [503, 'shutting_down'])
  release.resolve()
  await withTimeout(draining, 'for the drain to finish')
  t.equal(built.app.tether.connectionCount, 0)
})
