import type { Test } from 'tap'
import { waitClose } from 'fastify-tether/testing'
import { attempt, BUDGET, echo, exhaust, HEARTBEAT_MS, idleFor, open, PUBLIC_ORIGIN, refused, startApp, type App, type Endpoint } from './support.js'

/** What differs between the tested deployments. */
export interface Deployment {
  /** nginx, HAProxy terminating TLS, HAProxy passing TLS through. */
  name: string
  /** TLS=off: the instance serves plain HTTP on loopback. */
  plainApp: boolean
  /** The proxy adds X-Forwarded-For (a layer-7 proxy); a TCP passthrough cannot. */
  forwardsClient: boolean
  /** TRUST_PROXY of the documented configuration (undefined: unset). */
  trustProxy: string | undefined
  /** TRUST_PROXY of the wrong configuration the test also runs, and what it must show. */
  misconfigured: { trustProxy: string | undefined, what: string }
  /**
   * Starts the proxy with its documented configuration in front of `app`, the production idle
   * timeouts shortened to `idleTimeoutS`; resolves with the endpoint clients use.
   */
  start: (t: Test, app: App, idleTimeoutS: number) => Promise<Endpoint>
}

/** The proxies' idle timeout in these tests: twice the heartbeat, so only the heartbeat keeps an idle socket open. */
const IDLE_TIMEOUT_S = 1

function appEnv (deployment: Deployment, trustProxy: string | undefined): Record<string, string> {
  return {
    ...(deployment.plainApp ? { TLS: 'off' } : {}),
    ...(trustProxy === undefined ? {} : { TRUST_PROXY: trustProxy })
  }
}

function directEndpoint (deployment: Deployment, app: App): Endpoint {
  return deployment.plainApp
    ? { url: `ws://127.0.0.1:${app.port}`, name: 'direct' }
    : { url: `wss://127.0.0.1:${app.port}`, ca: app.ca, name: 'direct' }
}

/**
 * Everything item 5 of the "Operations" issue asks of one deployment: echo, the refusals as HTTP
 * statuses with tether's body, the client address for rate limits (trusted, spoofed, untrusted),
 * an idle socket outliving the proxy's idle timeout thanks to the heartbeat, and a drain's 1001.
 */
export async function testDeployment (t: Test, deployment: Deployment): Promise<void> {
  t.test(`${deployment.name}, as documented (TRUST_PROXY=${deployment.trustProxy ?? 'unset'})`, async (t) => {
    const app = await startApp(t, appEnv(deployment, deployment.trustProxy))
    const proxy = await deployment.start(t, app, IDLE_TIMEOUT_S)
    const direct = directEndpoint(deployment, app)
    /** The client address the server should log for a client at `from` coming through the proxy. */
    const seen = (from: string): string => deployment.forwardsClient ? from : '127.0.0.1'

    // Opened first, closed by the drain at the end.
    const draining = await open(t, proxy, '/ws/echo', '127.0.0.14')

    t.test('echo works through the proxy', async (t) => {
      const ws = await open(t, proxy, '/ws/echo', '127.0.0.10')
      t.equal(await echo(ws, 'hello through the proxy'), 'hello through the proxy')
      ws.close(1000)
      t.equal((await waitClose(ws)).code, 1000)
    })

    t.test('a foreign Origin is a 403 with tether\'s body, logged with the client address', async (t) => {
      const mark = app.server.logs.lines.length
      const refusal = await refused(proxy, '/ws/echo', '127.0.0.11', { origin: 'https://evil.example' })
      t.equal(refusal.status, 403)
      t.equal(refusal.error, 'origin_not_allowed')
      t.match(refusal.headers['content-type'], /^application\/json/)
      t.ok(refusal.message.length > 0, 'a message')
      const line = await app.server.logs.waitFor((l) => app.server.logs.lines.indexOf(l) >= mark && l.msg === 'upgrade refused', 'the refusal line')
      t.equal(line['reason'], 'origin_not_allowed')
      t.equal(line['ip'], seen('127.0.0.11'), deployment.forwardsClient ? 'the real client address' : 'the balancer\'s address')
    })

    t.test('no token is a 401 missing_token with tether\'s body', async (t) => {
      const refusal = await refused(proxy, '/ws/feed', '127.0.0.12')
      t.equal(refusal.status, 401)
      t.equal(refusal.error, 'missing_token')
      t.match(refusal.headers['content-type'], /^application\/json/)
    })

    t.test(`an idle socket outlives the proxy's ${IDLE_TIMEOUT_S} s idle timeout: the ${HEARTBEAT_MS} ms heartbeat is traffic`, async (t) => {
      const ws = await open(t, proxy, '/ws/echo', '127.0.0.13')
      // The heartbeat timer is the server's, not this socket's: 4 pings are at least 3 full intervals.
      const idleMs = await idleFor(ws, 4)
      t.ok(idleMs >= 3 * HEARTBEAT_MS && idleMs > IDLE_TIMEOUT_S * 1000, `idle for ${idleMs} ms (4 heartbeats), at least 3x the heartbeat and longer than the proxy's idle timeout`)
      t.equal(await echo(ws, 'still here'), 'still here', 'still open and echoing')
      ws.close(1000)
      await waitClose(ws)
    })

    t.test('the handshake budget is per real client; a spoofed X-Forwarded-For buys nothing', async (t) => {
      const first = await exhaust(proxy, app, '127.0.0.20', '203.0.113.1')
      t.equal(first.last.status, 429)
      t.equal(first.last.error, 'rate_limited')
      t.match(first.last.headers['content-type'], /^application\/json/)
      t.ok(Number(first.last.headers['retry-after']) > 0, 'Retry-After')
      t.same(first.ips, [seen('127.0.0.20')], 'every refusal logged with the address the proxy saw, never the spoofed one')
      if (deployment.forwardsClient) t.equal(first.allowed, BUDGET, `the client at 127.0.0.20 had its own budget of ${BUDGET}`)

      const spoofed = await attempt(proxy, app, '127.0.0.20', '203.0.113.2')
      t.same([spoofed.status, spoofed.ip], [429, seen('127.0.0.20')], 'another spoofed value from the same client: still 429')

      const other = await attempt(proxy, app, '127.0.0.21', '203.0.113.1')
      if (deployment.forwardsClient) {
        t.same([other.status, other.error, other.ip], [401, 'missing_token', '127.0.0.21'], 'another real client has a budget of its own')
      } else {
        t.same([other.status, other.ip], [429, '127.0.0.1'], 'through a TCP balancer every client shares the balancer\'s budget')
      }

      const untrusted = await exhaust(direct, app, '127.0.0.30', '198.51.100.1')
      t.equal(untrusted.allowed, BUDGET, 'a direct client has one budget')
      t.same(untrusted.ips, ['127.0.0.30'], 'a direct (untrusted) peer\'s X-Forwarded-For is ignored')
      const again = await attempt(direct, app, '127.0.0.30', '198.51.100.2')
      t.same([again.status, again.ip], [429, '127.0.0.30'], 'another spoofed value from a direct peer gets no fresh budget')
    })

    t.test('SIGTERM drains through the proxy: the open socket gets 1001', async (t) => {
      const closing = waitClose(draining, 10_000)
      app.server.child.kill('SIGTERM')
      t.same(await closing, { code: 1001, reason: 'server shutting down' })
      t.equal(await app.server.exited, 0, 'the server exits 0')
    })
  })

  t.test(`${deployment.name}, misconfigured: TRUST_PROXY=${deployment.misconfigured.trustProxy ?? 'unset'}`, async (t) => {
    const app = await startApp(t, appEnv(deployment, deployment.misconfigured.trustProxy))
    const proxy = await deployment.start(t, app, IDLE_TIMEOUT_S)
    if (deployment.forwardsClient) {
      // The proxy is not listed: its X-Forwarded-For is ignored, every client is the proxy.
      const first = await exhaust(proxy, app, '127.0.0.40', '203.0.113.1')
      t.same(first.ips, ['127.0.0.1'], deployment.misconfigured.what)
      const other = await attempt(proxy, app, '127.0.0.41', '203.0.113.2')
      t.same([other.status, other.ip], [429, '127.0.0.1'], 'another client with another spoofed value shares the proxy\'s budget')
    } else {
      // A TCP balancer forwards the client's own headers: listing it lets any client pick its address.
      const spoofed = await attempt(proxy, app, '127.0.0.40', '203.0.113.66')
      t.same([spoofed.status, spoofed.ip], [401, '203.0.113.66'], deployment.misconfigured.what)
    }
  })
}

export { PUBLIC_ORIGIN }
