import { X509Certificate } from 'node:crypto'
import { setImmediate as nextTurn } from 'node:timers/promises'
import t from 'tap'
import { Registry } from 'prom-client'
import type { FastifyInstance } from 'fastify'
import { tetherMetrics, closeCodeLabel, reasonLabel, certificateNotAfter, type TetherMetrics } from 'fastify-tether/metrics'
import { tetherTest, testCertificates, waitEvent, withTimeout, type TestServer } from 'fastify-tether/testing'
import { WebSocket } from 'ws'

// The metrics subpath against a private prom-client registry, through the testing kit: every
// series appears with the right labels and values, and no label carries a URL, user, ticket or topic.

interface Sample { labels: Record<string, string | number>, value: number, metricName?: string }

async function samples (registry: Registry, name: string): Promise<Sample[]> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name)
  return (metric?.values ?? []) as Sample[]
}

async function value (registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const found = (await samples(registry, name)).find((sample) =>
    (sample.metricName === undefined || sample.metricName === name) &&
    Object.entries(labels).every(([key, wanted]) => String(sample.labels[key]) === wanted) &&
    Object.keys(sample.labels).length === Object.keys(labels).length)
  return found?.value
}

/**
 * Resolves once `count` connections have finished closing. Listen before the close: the metrics'
 * own listener was added first, so by then it has counted them. Bounded by WAIT_MS.
 */
function connectionsClosed (app: FastifyInstance, count: number): Promise<void> {
  let seen = 0
  let off = (): void => {}
  const closed = new Promise<void>((resolve) => {
    off = app.tether.events.on('connectionClosed', () => { if (++seen === count) resolve() })
  })
  return withTimeout(closed, `for ${count} connection(s) to close`).finally(() => off())
}

async function start (t: Parameters<typeof tetherTest>[0], registry: Registry, extra: { defaultMetrics?: boolean } = {}): Promise<{ server: TestServer, metrics: TetherMetrics }> {
  let metrics: TetherMetrics | undefined
  const server = await tetherTest(t, {
    tether: { maxBufferedBytes: 65_536, closeTimeoutMs: 200 },
    routes (app: FastifyInstance) {
      metrics = tetherMetrics(app, { registry, ...extra })
      app.ws('/ws/echo/:room', { auth: false }, async (connection) => {
        for await (const message of connection.messages()) await connection.send(message)
      })
      app.ws('/ws/private', async (connection) => {
        connection.subscribe(`user:${connection.user.sub}`)
        for await (const message of connection.messages()) {
          if (message === 'bye') connection.close(4001, 'app says bye')
        }
      })
      app.ws('/ws/fanout', { auth: false }, async (connection) => {
        connection.subscribe('topic:very-secret-topic')
        await new Promise((resolve) => connection.signal.addEventListener('abort', resolve))
      })
    }
  })
  if (metrics === undefined) throw new Error('tetherMetrics was not called')
  return { server, metrics }
}

t.test('every series with its labels and values', async (t) => {
  const registry = new Registry()
  const { server, metrics } = await start(t, registry, { defaultMetrics: true })
  const { app } = server

  // Two echo connections with a URL query that must never reach a label.
  const echo = await server.connect('/ws/echo/lobby?token=s3cr3t-value&user=alice')
  const echo2 = await server.connect('/ws/echo/kitchen')
  t.equal(await value(registry, 'tether_connections_open', { route: '/ws/echo/:room' }), 2, 'two open on the echo pattern')
  t.equal(await value(registry, 'tether_connections_accepted_total', { route: '/ws/echo/:room' }), 2)
  echo.send('hello')
  t.equal(await echo.next(), 'hello')
  echo.send(Buffer.from([1, 2, 3]))
  await echo.next()
  // Read from the open connection at scrape time, not per message.
  t.equal(await value(registry, 'tether_received_messages_total', { route: '/ws/echo/:room' }), 2, 'received, read while open')
  t.equal(await value(registry, 'tether_received_bytes_total', { route: '/ws/echo/:room' }), 8)
  t.equal(await value(registry, 'tether_sent_messages_total', { route: '/ws/echo/:room' }), 2)
  t.equal(await value(registry, 'tether_sent_bytes_total', { route: '/ws/echo/:room' }), 8)
  const echoClosed = connectionsClosed(app, 1)
  echo.close(1000)
  await echo.closed()
  await echoClosed
  t.equal(await value(registry, 'tether_connections_open', { route: '/ws/echo/:room' }), 1, 'one left open')
  t.equal(await value(registry, 'tether_connections_closed_total', { route: '/ws/echo/:room', code: '1000', closed_by: 'client' }), 1)
  t.equal(await value(registry, 'tether_received_messages_total', { route: '/ws/echo/:room' }), 2, 'not counted twice at close')

  // Refusals by reason: 401 missing_token, 403 origin_not_allowed.
  t.equal((await server.expectRefusal('/ws/private')).error, 'missing_token')
  t.equal((await server.expectRefusal('/ws/echo/lobby', { origin: 'https://evil.example' })).error, 'origin_not_allowed')
  t.equal(await value(registry, 'tether_refusals_total', { reason: 'missing_token', route: '/ws/private' }), 1)
  t.equal(await value(registry, 'tether_refusals_total', { reason: 'origin_not_allowed', route: '/ws/echo/:room' }), 1)

  // A server close with an application code, counted by range; the handler then ends (no second close).
  const alice = await server.connect('/ws/private', { token: server.sign({ sub: 'alice' }) })
  t.equal(app.hub.publish('user:alice', { type: 'note' }), 1, 'one local delivery')
  await alice.next()
  const aliceClosed = connectionsClosed(app, 1)
  alice.send('bye')
  t.same(await alice.closed(), { code: 4001, reason: 'app says bye' })
  await aliceClosed
  t.equal(await value(registry, 'tether_server_closes_total', { route: '/ws/private', code: '4xxx' }), 1)
  t.equal(await value(registry, 'tether_connections_closed_total', { route: '/ws/private', code: '4xxx', closed_by: 'server' }), 1)
  t.equal(await value(registry, 'tether_hub_publishes_total', { source: 'local' }), 1)
  t.equal(await value(registry, 'tether_hub_deliveries_total', { source: 'local' }), 1)

  // The handshake histogram has one observation per accepted connection, under 10 s.
  const handshakeCount = (await samples(registry, 'tether_handshake_duration_seconds')).find((s) => s.metricName === 'tether_handshake_duration_seconds_count' && s.labels['route'] === '/ws/echo/:room')
  t.equal(handshakeCount?.value, 2, 'one handshake per accepted echo connection')
  const sum = (await samples(registry, 'tether_handshake_duration_seconds')).find((s) => s.metricName === 'tether_handshake_duration_seconds_sum' && s.labels['route'] === '/ws/echo/:room')
  t.ok(sum !== undefined && sum.value > 0 && sum.value < 10, `handshake seconds recorded (${sum?.value})`)

  // Backplane (in-process: always up, nothing failed) and the certificate.
  t.equal(await value(registry, 'tether_backplane_up'), 1)
  t.equal(await value(registry, 'tether_backplane_publish_failures_total'), 0)
  t.equal(await value(registry, 'tether_backplane_outages_total'), 0)
  const certificates = await testCertificates()
  const notAfter = metrics.observeCertificate(certificates.cert)
  t.equal(notAfter.getTime(), new Date(new X509Certificate(certificates.cert).validTo).getTime())
  t.equal(await value(registry, 'tether_tls_certificate_not_after_timestamp_seconds'), Math.floor(notAfter.getTime() / 1000))
  t.throws(() => certificateNotAfter('not a certificate'), TypeError)

  // Default metrics, event-loop lag among them.
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name)
  t.ok(names.includes('nodejs_eventloop_lag_seconds'), 'event-loop lag from the default metrics')
  t.ok(names.includes('process_cpu_user_seconds_total'), 'process metrics')

  echo2.close()
  await echo2.closed()
})

t.test('a slow consumer is counted by route, and hub deliveries by source', async (t) => {
  const registry = new Registry()
  const { server } = await start(t, registry)
  const reader = await server.connect('/ws/fanout')
  const slow = new WebSocket(`${server.wsUrl}/ws/fanout`, { ca: server.ca })
  await waitEvent(slow, 'open')
  t.teardown(() => { slow.terminate() })
  slow.pause()
  // Both must be subscribed before publishing: the handler subscribes right after the upgrade.
  while (server.app.hub.subscriberCount('topic:very-secret-topic') < 2) await nextTurn()
  const chunk = 'x'.repeat(16_384)
  let published = 0
  while (await value(registry, 'tether_slow_consumer_closes_total', { route: '/ws/fanout' }) === undefined && published < 4_000) {
    server.app.hub.publish('topic:very-secret-topic', chunk)
    published++
    if (published % 16 === 0) await nextTurn()
  }
  // The reader may be cut off too (it reads, but the loop publishes faster than TLS writes).
  const slowCloses = await value(registry, 'tether_slow_consumer_closes_total', { route: '/ws/fanout' }) ?? 0
  t.ok(slowCloses >= 1, `${slowCloses} slow consumer(s) cut off after ${published} publishes`)
  // A slow consumer's close is a server close, counted in the same close() call.
  t.equal(await value(registry, 'tether_server_closes_total', { route: '/ws/fanout', code: '1013' }), slowCloses, 'each a server close with 1013')
  t.equal(await value(registry, 'tether_hub_publishes_total', { source: 'local' }), published)
  t.ok((await value(registry, 'tether_hub_deliveries_total', { source: 'local' }) ?? 0) >= published, 'each publish reached a subscriber at least')
  reader.close()
})

t.test('no label carries a URL, query, user, ticket or topic; label values are bounded', async (t) => {
  const registry = new Registry()
  const { server } = await start(t, registry)
  const ticket = server.ticket({ sub: 'bob', exp: Math.floor(Date.now() / 1000) + 60 })
  const bob = await server.connect('/ws/private', { ticket, ticketIn: 'query' })
  server.app.hub.publish('user:bob', 'hi')
  await bob.next()
  await server.expectRefusal('/ws/private', { token: 'not.a.jwt' })
  await server.expectRefusal('/ws/nowhere?ticket=zzz')
  const fan = await server.connect('/ws/fanout?user=carol')
  const bothClosed = connectionsClosed(server.app, 2)
  bob.close()
  fan.close()
  await bob.closed()
  await fan.closed()
  await bothClosed
  const labels = (await registry.getMetricsAsJSON()).flatMap((metric) => (metric.values as Sample[]).flatMap((sample) => Object.entries(sample.labels).map(([key, v]) => `${metric.name}{${key}=${String(v)}}`)))
  t.ok(labels.length > 10, `${labels.length} label values`)
  for (const label of labels) {
    if (/[?&=]\w|bob|carol|alice|ticket|very-secret|user:|not\.a\.jwt|zzz/.test(label.slice(label.indexOf('{') + 1).replace(/^[a-z_]+=/, ''))) t.fail(`label leaks request data: ${label}`)
  }
  t.ok(labels.includes('tether_refusals_total{reason=invalid_token}'), 'refusal by reason')
  t.ok(labels.includes('tether_refusals_total{reason=not_websocket_route}') && labels.includes('tether_refusals_total{route=}'), 'an unmatched route is an empty route label')
  t.equal(closeCodeLabel(4321), '4xxx')
  t.equal(closeCodeLabel(3001), '3xxx')
  t.equal(closeCodeLabel(1013), '1013')
  t.equal(closeCodeLabel(2000), 'other')
  t.equal(reasonLabel('mfa_required'), 'mfa_required')
  t.equal(reasonLabel('room alice not allowed'), 'other')
})

t.test('the series leave the registry when the app closes, and a second set on one registry is refused', async (t) => {
  const registry = new Registry()
  const { server, metrics } = await start(t, registry)
  t.throws(() => tetherMetrics(server.app, { registry }), /already been registered/, 'same names, same registry')
  t.doesNotThrow(() => tetherMetrics(server.app, { registry, prefix: 'other_tether_' }).close(), 'another prefix is fine')
  metrics.close()
  t.same((await registry.getMetricsAsJSON()).map((m) => m.name), [], 'nothing left')
  // Listeners are gone too: connections no longer count.
  const client = await server.connect('/ws/echo/a')
  client.close()
  await client.closed()
  t.equal(server.app.tether.events.listening('connectionOpened'), false)
})

t.test('the observation hook: handshakes timed from the TCP accept on a fresh socket, nothing built without listeners', async (t) => {
  const opened: Array<{ route: string, from: string, seconds: number }> = []
  const closed: Array<{ code: number, closedBy: string | null, messagesIn: number }> = []
  const server = await tetherTest(t, {
    routes (app: FastifyInstance) {
      app.ws('/ws/echo', { auth: false }, async (connection) => {
        for await (const message of connection.messages()) await connection.send(message)
      })
    }
  })
  const { events } = server.app.tether
  t.equal(events.listening('connectionOpened'), false, 'nobody listens by default')
  const first = await server.connect('/ws/echo')
  first.close()
  await first.closed()
  const offOpened = events.on('connectionOpened', (event) => { opened.push({ route: event.route, from: event.handshakeFrom, seconds: event.handshakeSeconds }) })
  events.on('connectionClosed', (event) => { closed.push({ code: event.code, closedBy: event.closedBy, messagesIn: event.messagesIn }) })
  events.on('refusal', () => { throw new Error('a listener that throws') })
  const client = await server.connect('/ws/echo')
  client.send('a')
  await client.next()
  client.close(4000)
  await client.closed()
  await server.expectRefusal('/ws/echo', { origin: 'https://evil.example' })
  // The first connection's server side may close after the listener was added: look for this one.
  while (!closed.some((c) => c.code === 4000)) await nextTurn()
  t.same(opened.map(({ route, from }) => ({ route, from })), [{ route: '/ws/echo', from: 'accept' }], 'timed from the TCP accept: TLS included')
  t.ok((opened[0]?.seconds ?? -1) > 0, 'a positive duration')
  t.same(closed.filter((c) => c.code === 4000), [{ code: 4000, closedBy: 'client', messagesIn: 1 }], 'final counters at close')
  t.ok(server.logs.lines.some((line) => line.msg === 'tether event listener failed'), 'a throwing listener is logged, the refusal still answered')
  offOpened()
  t.equal(events.listening('connectionOpened'), false)
})
