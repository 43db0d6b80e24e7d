import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { waitClose } from 'fastify-tether/testing'
import { build, type Built } from '../helper.js'

// A real Prometheus (Debian's /usr/bin/prometheus) scrapes the reference server's /metrics over
// TLS, trusting the test CA, with the bearer token from a file; the test acts on the server, waits
// for a scrape that started after its actions (Prometheus' own API, bounded), and reads the values
// back through PromQL.

const PROMETHEUS = '/usr/bin/prometheus'
const TOKEN = 'metrics-token-for-tests-0123456789'
const DEADLINE_MS = 30_000

interface HttpAnswer { status: number, headers: Record<string, unknown>, body: string }

function get (url: string, options: { ca?: string, token?: string } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { headers, timeout: 5_000, ...(options.ca === undefined ? {} : { ca: options.ca }) }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => { resolve({ status: response.statusCode ?? 0, headers: response.headers, body }) })
    })
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out`)))
    request.on('error', reject)
    request.end()
  })
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Polls `check` until it returns a value (not undefined), at most `ms`; no fixed sleeps beyond the poll step. */
async function until<T> (what: string, check: () => Promise<T | undefined>, ms = DEADLINE_MS): Promise<T> {
  const deadline = Date.now() + ms
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      lastError = error
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${lastError === undefined ? '' : `: ${String(lastError)}`}`)
}

/** RFC 3339 with nanoseconds (Prometheus) to epoch milliseconds. */
function epochMs (rfc3339: string): number {
  return Date.parse(rfc3339.replace(/(\.\d{3})\d+/, '$1'))
}

interface Prometheus { url: string, process: ChildProcess, output: () => string }

async function startPrometheus (t: Test, server: Built): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'tether-prometheus-'))
  writeFileSync(join(dir, 'ca.pem'), server.ca)
  writeFileSync(join(dir, 'token'), TOKEN, { mode: 0o600 })
  writeFileSync(join(dir, 'prometheus.yml'), [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: tether',
    '    scheme: https',
    '    metrics_path: /metrics',
    '    tls_config:',
    `      ca_file: ${join(dir, 'ca.pem')}`,
    '      server_name: localhost',
    '    authorization:',
    `      credentials_file: ${join(dir, 'token')}`,
    '    static_configs:',
    `      - targets: ['127.0.0.1:${server.port}']`,
    ''
  ].join('\n'))
  const port = await freePort()
  let output = ''
  const child = spawn(PROMETHEUS, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn'
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  })
  const url = `http://127.0.0.1:${port}`
  await until('Prometheus to be ready', async () => {
    if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${output}`)
    return (await get(`${url}/-/ready`)).status === 200 ? true : undefined
  })
  return { url, process: child, output: () => output }
}

interface Target { health: string, lastScrape: string, lastError: string, scrapeUrl: string }

async function query (prometheus: Prometheus, promql: string): Promise<number | undefined> {
  const answer = await get(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(promql)}`)
  const body = JSON.parse(answer.body) as { status: string, data: { result: Array<{ value: [number, string] }> } }
  if (body.status !== 'success') throw new Error(`query ${promql}: ${answer.body}`)
  const first = body.data.result[0]
  return first === undefined ? undefined : Number(first.value[1])
}

t.test('Prometheus scrapes /metrics over TLS with the bearer token and sees connections, refusals and closes', { skip: existsSync(PROMETHEUS) ? false : `${PROMETHEUS} is not installed (.ci/run installs Debian's prometheus)` }, async (t) => {
  const server = await build(t, { config: { metricsToken: TOKEN }, tether: { maxPayloadBytes: 1_024 } })
  const launched = Date.now()
  const prometheus = await startPrometheus(t, server)
  const started = Date.now()

  // Actions: three echo connections (one stays, one closed by the client, one closed by the
  // server with 1009), a 401 missing_token and a 403 origin_not_allowed.
  const stays = await server.connect('/ws/echo')
  const leaves = await server.connect('/ws/echo')
  leaves.close(1000)
  await waitClose(leaves)
  const tooBig = await server.connect('/ws/echo')
  tooBig.send('x'.repeat(2_048))
  t.equal((await waitClose(tooBig)).code, 1009, 'the server closed the oversized sender with 1009')
  t.equal((await server.expectRefusal('/ws/feed')).error, 'missing_token')
  t.equal((await server.expectRefusal('/ws/echo', { origin: 'https://evil.example' })).error, 'origin_not_allowed')
  await until('the server to see both closes', async () => server.app.tether.connectionCount === 1 ? true : undefined)
  const acted = Date.now()

  // A scrape that began after the actions, and was healthy.
  const target = await until('a healthy scrape after the actions', async () => {
    const body = JSON.parse((await get(`${prometheus.url}/api/v1/targets`)).body) as { data: { activeTargets: Target[] } }
    const active = body.data.activeTargets[0]
    return active !== undefined && active.health === 'up' && epochMs(active.lastScrape) > acted ? active : undefined
  })
  const scraped = Date.now()
  t.equal(target.scrapeUrl, `https://127.0.0.1:${server.port}/metrics`)

  const open = await until('the open gauge in Prometheus', async () => await query(prometheus, 'tether_connections_open{job="tether",route="/ws/echo"}'))
  t.equal(open, 1, 'one connection open')
  t.equal(await query(prometheus, 'tether_connections_accepted_total{route="/ws/echo"}'), 3, 'three accepted on /ws/echo')
  t.equal(await query(prometheus, 'tether_refusals_total{reason="missing_token",route="/ws/feed"}'), 1, '401 missing_token by reason')
  t.equal(await query(prometheus, 'tether_refusals_total{reason="origin_not_allowed",route="/ws/echo"}'), 1, '403 origin_not_allowed by reason')
  t.equal(await query(prometheus, 'tether_server_closes_total{route="/ws/echo",code="1009"}'), 1, 'the 1009 by code')
  t.equal(await query(prometheus, 'tether_connections_closed_total{route="/ws/echo",code="1000",closed_by="client"}'), 1, 'the client close by code')
  t.equal(await query(prometheus, 'tether_backplane_up'), 1)
  t.ok((await query(prometheus, 'tether_handshake_duration_seconds_count{route="/ws/echo"}') ?? 0) >= 3, 'handshakes observed')
  t.ok((await query(prometheus, 'nodejs_eventloop_lag_seconds')) !== undefined, 'default metrics (event-loop lag) scraped too')
  t.ok((await query(prometheus, 'tether_tls_certificate_not_after_timestamp_seconds') ?? 0) > Date.now() / 1000, 'the certificate expiry, in the future')
  t.comment(`Prometheus ready in ${started - launched} ms; scrape after the actions seen ${scraped - acted} ms after them (lastScrape ${target.lastScrape}); values queried ${Date.now() - acted} ms after them`)
  stays.close()
})

t.test('/metrics on the main port needs the bearer token; without METRICS_* there is none', async (t) => {
  const server = await build(t, { config: { metricsToken: TOKEN } })
  const url = `${server.url}/metrics`
  const missing = await get(url, { ca: server.ca })
  t.equal(missing.status, 401)
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="metrics"')
  t.equal((await get(url, { ca: server.ca, token: `${TOKEN}x` })).status, 401, 'a wrong token')
  t.equal((await get(url, { ca: server.ca, token: TOKEN.slice(0, -1) })).status, 401, 'a prefix of the token')
  const ok = await get(url, { ca: server.ca, token: TOKEN })
  t.equal(ok.status, 200)
  t.match(String(ok.headers['content-type']), /^text\/plain/)
  t.match(ok.body, /# TYPE tether_connections_open gauge/)
  t.notOk(server.logs.lines.some((line) => JSON.stringify(line).includes(TOKEN)), 'the token is never logged')

  const off = await build(t)
  t.equal(off.app.metrics, undefined, 'metrics are off by default')
  t.equal((await get(`${off.url}/metrics`, { ca: off.ca, token: TOKEN })).status, 404, 'no /metrics by default')
})

t.test('METRICS_PORT: a plain HTTP listener on loopback only, and not on the main port', async (t) => {
  const server = await build(t, { config: { metricsPort: 0 } })
  const url = server.app.metrics?.url
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
  const address = server.app.metrics?.listener?.address() as AddressInfo
  t.equal(address.address, '127.0.0.1', 'bound to loopback')
  const answer = await get(url ?? '')
  t.equal(answer.status, 200)
  t.match(answer.body, /tether_connections_accepted_total/)
  t.equal((await get(`http://127.0.0.1:${address.port}/other`)).status, 404)
  t.equal((await get(`${server.url}/metrics`, { ca: server.ca })).status, 404, 'not on the main port')

  const both = await build(t, { config: { metricsPort: 0, metricsToken: TOKEN } })
  t.equal((await get(both.app.metrics?.url ?? '')).status, 401, 'with METRICS_TOKEN too, the loopback listener needs it')
  t.equal((await get(both.app.metrics?.url ?? '', { token: TOKEN })).status, 200)
  await both.app.close()
  t.equal(both.app.metrics?.listener?.listening, false, 'closed with the app')
})

t.test('the connection from a WebSocket client is labelled by pattern only', async (t) => {
  const server = await build(t, { config: { metricsToken: TOKEN } })
  const ws = new WebSocket(`${server.wsUrl}/ws/chat/secret-room-42`, { ca: server.ca, headers: { authorization: `Bearer ${server.token({ sub: 'mallory' })}` } })
  t.teardown(() => { ws.terminate() })
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  const body = (await get(`${server.url}/metrics`, { ca: server.ca, token: TOKEN })).body
  t.match(body, /tether_connections_open\{route="\/ws\/chat\/:room"\} 1/)
  t.notMatch(body, /secret-room-42|mallory/, 'no room, no user')
})
