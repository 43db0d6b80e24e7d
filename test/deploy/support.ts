import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createServer, connect as tcpConnect } from 'node:net'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import type { Test } from 'tap'
import { ensureDevCertificates } from 'fastify-tether/dev-certs'
import { attemptRefused, collect, waitEvent, waitOpen, withTimeout, type Refusal } from 'fastify-tether/testing'
import { WebSocket, type ClientOptions } from 'ws'
import { ready, ROOT, SOURCE_SERVER, spawnServer, type ServerProcess } from '../process/support.js'

// The deployment tests: Debian's nginx and HAProxy in the foreground on loopback ports, in front of
// the reference server as a child process, with the very configuration files docs/deployment.md
// shows (docs/deploy/*), placeholders filled in.

export const DEPLOY_DIR = join(ROOT, 'docs', 'deploy')

/** The absolute path of a Debian program, or undefined when it is not installed. */
export function program (name: string): string | undefined {
  return ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'].map((dir) => join(dir, name)).find((path) => existsSync(path))
}

/** A port nothing listens on right now (the kernel's choice). */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await waitEvent(server, 'listening')
  const address = server.address()
  server.close()
  await waitEvent(server, 'close')
  if (typeof address !== 'object' || address === null) throw new Error('no port')
  return address.port
}

/** Resolves once something accepts TCP on the port; polls until the deadline. */
export async function waitListening (port: number, what: string, exited: Promise<unknown>, output: () => string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  let gone = false
  exited.then(() => { gone = true }, () => { gone = true })
  for (;;) {
    if (gone) throw new Error(`${what} exited before listening:\n${output()}`)
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (accepted) return
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${ms} ms:\n${output()}`)
    await delay(50)
  }
}

/**
 * One of docs/deploy/*, with every `@NAME@` placeholder filled in and each test-only change (the
 * production timeouts, shortened) applied: each `from` must occur exactly once, so a config that
 * drifts from what the test expects fails here instead of testing something else.
 */
export async function renderConfig (file: string, values: Record<string, string | number>, changes: Array<[from: string, to: string]> = []): Promise<string> {
  let text = await readFile(join(DEPLOY_DIR, file), 'utf8')
  for (const [from, to] of changes) {
    const count = text.split(from).length - 1
    if (count !== 1) throw new Error(`${file}: expected "${from}" exactly once, found it ${count} times`)
    text = text.replace(from, to)
  }
  text = text.replace(/@([A-Z_]+)@/g, (whole, name: string) => {
    const value = values[name]
    if (value === undefined) throw new Error(`${file}: no value for the placeholder ${whole}`)
    return String(value)
  })
  return text
}

/**
 * A fresh directory for one proxy's files, removed with the test (not `t.testdir()`: a second call
 * in the same test empties the one the server keeps its certificates in). Readable by nginx's
 * workers, which run as nobody when the tests run as root.
 */
export async function proxyDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tether-proxy-'))
  await chmod(dir, 0o755)
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** The proxy's own certificate for localhost and 127.0.0.1, from a development CA of its own. */
export async function proxyCertificate (dir: string): Promise<{ ca: string, certPath: string, keyPath: string, pemPath: string }> {
  const dev = await ensureDevCertificates({ dir })
  // HAProxy wants the certificate and its key in one file.
  const pemPath = join(dir, 'proxy.pem')
  await writeFile(pemPath, `${dev.cert.trim()}\n${dev.key.trim()}\n`, { mode: 0o600 })
  return { ca: dev.ca, certPath: dev.certPath, keyPath: dev.keyPath, pemPath }
}

/** A proxy process in the foreground: its output (stdout and stderr) for diagnostics. */
export interface ProxyProcess {
  output: () => string
  exited: Promise<number | string>
}

/** Spawns a proxy in its own process group, killed with the test if still running. */
export function spawnProxy (t: Test, file: string, args: string[], what: string): ProxyProcess {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let text = ''
  child.stdout.on('data', (chunk: Buffer) => { text += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { text += chunk.toString() })
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try { process.kill(-child.pid, 'SIGKILL') } catch {}
      await exited
    }
  })
  return { output: () => `${what}:\n${text}`, exited }
}

/** nginx with `site` (an http-level file) included in a minimal main file that keeps every path in `dir`. */
export async function startNginx (t: Test, dir: string, site: string, port: number): Promise<ProxyProcess> {
  const nginx = program('nginx')
  if (nginx === undefined) throw new Error('nginx is not installed')
  await writeFile(join(dir, 'tether.conf'), site)
  // Only what running unprivileged in the foreground needs: every temp path and the access log in
  // the temp dir, so nothing touches /var/log/nginx or /var/lib/nginx.
  await writeFile(join(dir, 'nginx.conf'), [
    'worker_processes 1;',
    process.getuid?.() === 0 ? 'user nobody nogroup;' : '',
    'events { worker_connections 256; }',
    'http {',
    `  access_log ${join(dir, 'access.log')};`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => `  ${name}_temp_path ${join(dir, `${name}_temp`)};`),
    `  include ${join(dir, 'tether.conf')};`,
    '}',
    ''
  ].join('\n'))
  const proxy = spawnProxy(t, nginx, ['-e', 'stderr', '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log stderr;`], 'nginx')
  await waitListening(port, 'nginx', proxy.exited, proxy.output)
  return proxy
}

/** HAProxy in the foreground (-db) with `config`. */
export async function startHaproxy (t: Test, dir: string, config: string, port: number): Promise<ProxyProcess> {
  const haproxy = program('haproxy')
  if (haproxy === undefined) throw new Error('haproxy is not installed')
  const file = join(dir, 'haproxy.cfg')
  await writeFile(file, config)
  const proxy = spawnProxy(t, haproxy, ['-f', file, '-db'], 'haproxy')
  await waitListening(port, 'haproxy', proxy.exited, proxy.output)
  return proxy
}

/** The reference server as a child process, and the CA that signed its development certificate. */
export interface App {
  server: ServerProcess
  port: number
  /** The server's development CA (unused with TLS=off). */
  ca: string
  caPath: string
}

export const PUBLIC_ORIGIN = 'https://app.example.com'
/** How many upgrade attempts per minute each client address gets in these tests. */
export const BUDGET = 8
export const HEARTBEAT_MS = 500

/** Starts the reference server from its sources with the deployment tests' settings plus `env`. */
export async function startApp (t: Test, env: Record<string, string>): Promise<App> {
  const server = spawnServer(t, SOURCE_SERVER, {
    HOST: '127.0.0.1',
    ALLOWED_ORIGINS: PUBLIC_ORIGIN,
    HANDSHAKE_RATE_PER_MIN: String(BUDGET),
    WS_HEARTBEAT_MS: String(HEARTBEAT_MS),
    SHUTDOWN_TIMEOUT_MS: '2000',
    ...env
  })
  const plain = env['TLS'] === 'off'
  const line = await withTimeout(Promise.race([
    server.logs.waitFor((l) => l.msg === 'fastify-tether reference server ready', 'the ready line', 20_000),
    server.exited.then((code) => { throw new Error(`the server exited with ${code}: ${server.logs.text()}`) })
  ]), 'for the server to be ready', 20_000)
  const port = Number(new URL(String(line['url'])).port)
  if (plain) return { server, port, ca: '', caPath: '' }
  const { ca } = await ready(server)
  return { server, port, ca, caPath: join(server.certDir, 'ca.pem') }
}

/** Where and how a client reaches a server: the base URL and the TLS options it needs. */
export interface Endpoint {
  /** `wss://127.0.0.1:<port>` or `ws://...`. */
  url: string
  ca?: string
  /** What the endpoint is, for messages. */
  name: string
}

/** Client options from a given loopback source address, with an Origin and extra headers. */
function clientOptions (endpoint: Endpoint, from: string, headers: Record<string, string>): ClientOptions {
  return {
    localAddress: from,
    ...(endpoint.ca === undefined ? {} : { ca: endpoint.ca, servername: 'localhost' }),
    headers,
    handshakeTimeout: 5_000
  }
}

/** Opens a WebSocket to `path` from the loopback address `from`; resolves once open. */
export async function open (t: Test, endpoint: Endpoint, path: string, from: string, headers: Record<string, string> = { origin: PUBLIC_ORIGIN }): Promise<WebSocket> {
  const ws = new WebSocket(`${endpoint.url}${path}`, clientOptions(endpoint, from, headers))
  t.teardown(() => { ws.terminate() })
  await waitOpen(ws)
  return ws
}

/** An upgrade that must be refused, from `from`; the status, the JSON body and its content type. */
export async function refused (endpoint: Endpoint, path: string, from: string, headers: Record<string, string> = { origin: PUBLIC_ORIGIN }): Promise<Refusal> {
  return await attemptRefused(`${endpoint.url}${path}`, clientOptions(endpoint, from, headers))
}

/** The `upgrade refused` log lines of the server from line `mark` on, once there are `count`. */
async function refusedLines (server: ServerProcess, mark: number, count: number): Promise<Array<Record<string, unknown>>> {
  const lines = (): Array<Record<string, unknown>> => server.logs.lines.slice(mark).filter((l) => l.msg === 'upgrade refused')
  await server.logs.waitFor(() => lines().length >= count, `${count} upgrade refused lines`)
  return lines()
}

/**
 * Makes refused upgrades (no token) to /ws/feed from `from` with X-Forwarded-For `xff` until one is
 * 429, at most BUDGET + 1 of them; resolves with how many were 401 first and the client IP of every
 * `upgrade refused` line the server logged for them.
 */
export async function exhaust (endpoint: Endpoint, app: App, from: string, xff: string): Promise<{ allowed: number, last: Refusal, ips: string[] }> {
  const mark = app.server.logs.lines.length
  let allowed = 0
  for (let i = 0; i <= BUDGET; i++) {
    const refusal = await refused(endpoint, '/ws/feed', from, { origin: PUBLIC_ORIGIN, 'x-forwarded-for': xff })
    if (refusal.status === 429) {
      const lines = await refusedLines(app.server, mark, allowed + 1)
      return { allowed, last: refusal, ips: [...new Set(lines.map((l) => String(l['ip'])))] }
    }
    if (refusal.status !== 401) throw new Error(`${endpoint.name}: expected 401 or 429, got ${refusal.status} ${JSON.stringify(refusal.body)}`)
    allowed++
  }
  throw new Error(`${endpoint.name}: no 429 after ${BUDGET + 1} attempts from ${from}`)
}

/** One more refused attempt; resolves with its status and the IP its log line names. */
export async function attempt (endpoint: Endpoint, app: App, from: string, xff: string): Promise<{ status: number, error: string, ip: string }> {
  const mark = app.server.logs.lines.length
  const refusal = await refused(endpoint, '/ws/feed', from, { origin: PUBLIC_ORIGIN, 'x-forwarded-for': xff })
  const [line] = await refusedLines(app.server, mark, 1)
  return { status: refusal.status, error: refusal.error, ip: String(line?.['ip']) }
}

/** Sends `text` and resolves with the echo. */
export async function echo (ws: WebSocket, text: string): Promise<string> {
  const reply = collect(ws, 1)
  ws.send(text)
  const [message] = await reply
  return String(message)
}

/** Resolves after the client has answered `count` of the server's heartbeat pings, sending nothing else. */
export async function idleFor (ws: WebSocket, count: number): Promise<number> {
  const started = Date.now()
  let pings = 0
  await withTimeout(new Promise<void>((resolve, reject) => {
    const onPing = (): void => { if (++pings === count) { cleanup(); resolve() } }
    const onClose = (code: number): void => { cleanup(); reject(new Error(`closed with ${code} after ${pings} pings, ${Date.now() - started} ms idle`)) }
    const cleanup = (): void => { ws.off('ping', onPing); ws.off('close', onClose) }
    ws.on('ping', onPing)
    ws.on('close', onClose)
  }), `${count} heartbeats`, count * HEARTBEAT_MS * 4)
  return Date.now() - started
}
