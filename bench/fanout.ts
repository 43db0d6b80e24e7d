// Fan-out benchmark: 1,000 WebSocket clients in one topic, 200 publishes of a 128-byte message, for
// the framework's hub, a naive ws.send loop on a raw ws server and socket.io's room broadcast, all
// over TLS, plus the hub and the naive loop over plain TCP. Servers run in their own process (the
// clients run in this one). Prints deliveries per second and the time until the last client has
// the last message, side by side, as ratios to the naive loop and to socket.io.
//   npm run bench:fanout
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { connect as netConnect, type Socket } from 'node:net'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { connect as tlsConnect } from 'node:tls'
import { ensureDevCertificates } from 'fastify-tether/dev-certs'
import { cpuSeconds, syscalls } from './proc-stats.js'

const CLIENTS = Number(process.env['BENCH_CLIENTS'] ?? 1000)
const PUBLISHES = Number(process.env['BENCH_PUBLISHES'] ?? 200)
const WARMUP_PUBLISHES = 20
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3)
const CONNECT_CONCURRENCY = 50
// `tick`: the 200 publishes run in one synchronous loop; `turn`: one publish per event-loop turn.
const PACINGS = process.env['BENCH_PACING']?.split(',') ?? ['tick', 'turn']
for (const pacing of PACINGS) if (pacing !== 'tick' && pacing !== 'turn') throw new Error(`BENCH_PACING: unknown pacing ${pacing}; known: tick, turn`)

interface Stack {
  name: string
  tls: boolean
  /** `ws`: every text frame is a message; `socket.io`: engine.io/socket.io packets over the frames. */
  protocol: 'ws' | 'socket.io'
  path: string
  /** The stack the ratio column compares against (the naive loop on the same transport). */
  baseline: string
}
const ALL_STACKS: Stack[] = [
  { name: 'tether', tls: true, protocol: 'ws', path: '/bench/fanout', baseline: 'ws' },
  { name: 'ws', tls: true, protocol: 'ws', path: '/', baseline: 'ws' },
  { name: 'socket.io', tls: true, protocol: 'socket.io', path: '/socket.io/?EIO=4&transport=websocket', baseline: 'ws' },
  { name: 'tether-tcp', tls: false, protocol: 'ws', path: '/bench/fanout', baseline: 'ws-tcp' },
  { name: 'ws-tcp', tls: false, protocol: 'ws', path: '/', baseline: 'ws-tcp' }
]
const STACK_NAMES = process.env['BENCH_STACKS']?.split(',') ?? ALL_STACKS.map((s) => s.name)
const STACKS = STACK_NAMES.map((name) => {
  const stack = ALL_STACKS.find((s) => s.name === name)
  if (stack === undefined) throw new Error(`unknown stack ${name}; known: ${ALL_STACKS.map((s) => s.name).join(', ')}`)
  return stack
})

interface Result {
  stack: string
  pacing: string
  /** From the publish request until the last client has its last message. */
  lastDeliveryMs: number
  perSecond: number
  serverCpuShare: number
  clientCpuShare: number
  /** CPU the rest of the machine used meanwhile (kernel work not charged to either, other processes). */
  otherCpuShare: number
  writesPerDelivery: number
}

/** `promise`, or a rejection naming `what` after `ms`: no wait in this benchmark is unbounded. */
async function within<T> (promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${typeof what === 'string' ? what : what()}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** CPU seconds the whole machine has spent busy so far, from /proc/stat (Linux). */
function machineBusySeconds (): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? []
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields
    return (user + nice + system + irq + softirq + steal) / 100
  } catch {
    return Number.NaN
  }
}

const pct = (share: number): string => Number.isNaN(share) ? 'n/a' : `${Math.round(share * 100)}%`
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Waits (at most 20 s) until the rest of the machine uses less than a quarter of a CPU, so a run
 * does not start while another job is busy on this 2-vCPU machine; the "other CPU" column shows
 * what still ran alongside the measurement.
 */
async function waitForQuietMachine (): Promise<void> {
  const deadline = performance.now() + 20_000
  for (;;) {
    const busy = machineBusySeconds()
    const self = process.cpuUsage()
    await delay(500)
    const used = process.cpuUsage(self)
    const selfS = (used.user + used.system) / 1e6
    const otherShare = (machineBusySeconds() - busy - selfS) / 0.5
    if (Number.isNaN(otherShare) || otherShare < 0.25) return
    if (performance.now() > deadline) {
      process.stderr.write(`  the machine is still busy (${pct(otherShare)} CPU used by others); measuring anyway\n`)
      return
    }
  }
}

const certs = await ensureDevCertificates({ dir: mkdtempSync(join(tmpdir(), 'tether-bench-')) })

async function startServer (stack: Stack): Promise<{ child: ChildProcess, port: number }> {
  const extraArgs = process.env['BENCH_SERVER_NODE_ARGS']?.split(' ').filter(Boolean) ?? []
  const child = spawn(process.execPath, [...extraArgs, '--import', 'tsx', join(import.meta.dirname, 'servers', 'fanout-server.ts'), stack.name], {
    env: { ...process.env, BENCH_CERT: certs.cert, BENCH_KEY: certs.key, NODE_ENV: 'development' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  try {
    const port = await within(new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const match = /^port=(\d+)$/.exec(line)
        if (match !== null) resolve(Number(match[1]))
      })
      child.once('exit', (code) => reject(new Error(`${stack.name} server exited with ${code}`)))
    }), 30_000, `${stack.name} server start`)
    return { child, port }
  } catch (error) {
    await stopServer(child)
    throw error
  }
}

async function stopServer (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  try {
    await within(exited, 5_000, 'server exit')
  } catch {
    child.kill('SIGKILL')
    await within(exited, 5_000, 'server exit after SIGKILL').catch(() => {})
  }
}

/**
 * A JSON request to one of the server's bench routes (GET /bench/subscribers, POST /bench/publish),
 * over one kept-alive connection per run, so the publish request does not pay a TLS handshake.
 */
function benchRequest (stack: Stack, port: number, agent: HttpAgent, method: string, path: string): Promise<{ subscribers: number }> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, method, path, agent, timeout: 60_000, headers: { 'content-length': '0' } }
    const request = stack.tls ? httpsRequest({ ...options, servername: 'localhost', ca: certs.ca }) : httpRequest(options)
    request.once('response', (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (text: string) => { body += text })
      response.once('end', () => {
        if (response.statusCode !== 200) reject(new Error(`${method} ${path}: ${response.statusCode} ${body}`))
        else resolve(JSON.parse(body) as { subscribers: number })
      })
      response.once('error', reject)
    })
    request.once('timeout', () => request.destroy(new Error(`${method} ${path} timed out`)))
    request.once('error', reject)
    request.end()
  })
}

// Client frames are masked (RFC 6455 section 5.3) with a zero mask, so the payload stays readable.
const maskedText = (text: string): Buffer => Buffer.concat([Buffer.from([0x81, 0x80 | text.length, 0, 0, 0, 0]), Buffer.from(text)])
const SOCKET_IO_CONNECT = maskedText('40') // join the default namespace
const ENGINE_IO_PONG = maskedText('3')
const PONG = Buffer.from([0x8a, 0x80, 0, 0, 0, 0])
const CHAR_0 = 0x30
const CHAR_2 = 0x32
const CHAR_4 = 0x34

/**
 * Counts the frames of an unmasked (server-to-client) WebSocket stream without copying payloads:
 * it reads each header (2 bytes, plus 2 or 8 of extended length), keeps the first two payload bytes
 * (enough to tell socket.io packets apart) and skips the rest, across chunk boundaries.
 */
class FrameReader {
  readonly #header = Buffer.alloc(14)
  #headerBytes = 0
  #headerNeeded = 2
  #remaining = 0
  #inPayload = false
  #opcode = 0
  #length = 0
  #first = -1
  #second = -1
  readonly #onFrame: (opcode: number, length: number, first: number, second: number) => void

  constructor (onFrame: (opcode: number, length: number, first: number, second: number) => void) {
    this.#onFrame = onFrame
  }

  feed (chunk: Buffer): void {
    let i = 0
    const end = chunk.length
    while (i < end) {
      if (this.#inPayload) {
        const offset = this.#length - this.#remaining
        if (offset === 0) this.#first = chunk[i] ?? -1
        if (offset <= 1 && i + 1 - offset < end && this.#length > 1) this.#second = chunk[i + 1 - offset] ?? -1
        const take = Math.min(this.#remaining, end - i)
        i += take
        this.#remaining -= take
        if (this.#remaining === 0) this.#complete()
        continue
      }
      this.#header[this.#headerBytes++] = chunk[i++] ?? 0
      if (this.#headerBytes === 2) {
        const length7 = (this.#header[1] ?? 0) & 0x7f
        this.#headerNeeded = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (((this.#header[1] ?? 0) & 0x80) !== 0 ? 4 : 0)
      }
      if (this.#headerBytes < this.#headerNeeded) continue
      const length7 = (this.#header[1] ?? 0) & 0x7f
      this.#opcode = (this.#header[0] ?? 0) & 0x0f
      this.#length = length7 === 126 ? this.#header.readUInt16BE(2) : length7 === 127 ? Number(this.#header.readBigUInt64BE(2)) : length7
      this.#headerBytes = 0
      this.#headerNeeded = 2
      this.#first = -1
      this.#second = -1
      if (this.#length === 0) {
        this.#complete()
      } else {
        this.#remaining = this.#length
        this.#inPayload = true
      }
    }
  }

  #complete (): void {
    this.#inPayload = false
    this.#onFrame(this.#opcode, this.#length, this.#first, this.#second)
  }
}

/** What every client of a run shares: the message count the current phase waits for. */
class Phase {
  target = Number.POSITIVE_INFINITY
  done = 0
  finishedAt = 0
  #resolve: (() => void) | undefined

  start (target: number): Promise<void> {
    this.target = target
    this.done = 0
    return new Promise((resolve) => { this.#resolve = resolve })
  }

  /** A client has its last message of the phase. */
  reached (): void {
    if (++this.done === CLIENTS) {
      this.finishedAt = performance.now()
      this.#resolve?.()
    }
  }
}

interface Client { socket: Socket, messages: number }

/**
 * Opens one client: a real HTTP upgrade over a fresh TLS (CA pinned) or TCP connection, then a
 * {@link FrameReader} that counts messages (every text frame for ws and tether; only socket.io
 * EVENT packets, `42[...]`, for socket.io, which also joins the namespace and answers pings).
 */
function openClient (stack: Stack, port: number, phase: Phase): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket: Socket = stack.tls
      ? tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca })
      : netConnect({ host: '127.0.0.1', port })
    const client: Client = { socket, messages: 0 }
    const fail = (error: Error): void => { socket.destroy(); reject(error) }
    const timer = setTimeout(() => fail(new Error('upgrade timed out')), 20_000)
    socket.once('error', (error) => { clearTimeout(timer); reject(error) })
    socket.on('error', () => {})
    socket.once(stack.tls ? 'secureConnect' : 'connect', () => {
      socket.write(`GET ${stack.path} HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`)
    })
    const reader = new FrameReader(stack.protocol === 'ws'
      ? (opcode) => {
          if (opcode === 0x1) {
            if (++client.messages === phase.target) phase.reached()
          } else if (opcode === 0x9) {
            socket.write(PONG)
          }
        }
      : (opcode, length, first, second) => {
          if (opcode === 0x9) socket.write(PONG)
          if (opcode !== 0x1) return
          if (first === CHAR_4 && second === CHAR_2) { // socket.io EVENT: a message
            if (++client.messages === phase.target) phase.reached()
          } else if (first === CHAR_0) { // engine.io OPEN: join the default namespace
            socket.write(SOCKET_IO_CONNECT)
          } else if (first === CHAR_2 && length === 1) { // engine.io PING
            socket.write(ENGINE_IO_PONG)
          }
        })
    let head = Buffer.alloc(0)
    const onHead = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end === -1) {
        if (head.length > 8192) fail(new Error('no end of response head'))
        return
      }
      clearTimeout(timer)
      const status = head.subarray(0, head.indexOf('\r\n')).toString()
      if (!/^HTTP\/1\.1 101 /.test(status)) { fail(new Error(`upgrade refused: ${status}`)); return }
      socket.removeListener('data', onHead)
      socket.on('data', (data: Buffer) => reader.feed(data))
      if (head.length > end + 4) reader.feed(head.subarray(end + 4))
      resolve(client)
    }
    socket.on('data', onHead)
  })
}

/** Opens `CLIENTS` clients, `CONNECT_CONCURRENCY` handshakes at a time. */
async function openClients (stack: Stack, port: number, phase: Phase, clients: Client[]): Promise<void> {
  let started = 0
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, async () => {
    while (started < CLIENTS) {
      started++
      clients.push(await openClient(stack, port, phase))
    }
  }))
}

/**
 * One measured burst: asks the server for `count` publishes with `pacing`, and times from the
 * request until the last client has its last message.
 */
async function measure (stack: Stack, child: ChildProcess, port: number, agent: HttpAgent, phase: Phase, clients: Client[], count: number, pacing: string): Promise<Result> {
  const before = clients[0]?.messages ?? 0
  if (clients.some((client) => client.messages !== before)) throw new Error('clients disagree on the messages received so far')
  const deliveries = CLIENTS * count
  const allReached = phase.start(before + count)
  const clientCpu = process.cpuUsage()
  const serverCpu = cpuSeconds(child.pid)
  const machineBusy = machineBusySeconds()
  const serverCalls = syscalls(child.pid)
  const started = performance.now()
  const published = benchRequest(stack, port, agent, 'POST', `/bench/publish?count=${count}&pacing=${pacing}`)
  // A failed publish request ends the wait at once instead of at the timeout.
  await within(Promise.race([allReached, published.then(() => allReached)]), 60_000, () => `${stack.name}: ${deliveries} deliveries (${phase.done} of ${CLIENTS} clients done)`)
  const elapsedMs = phase.finishedAt - started
  const clientUsage = process.cpuUsage(clientCpu)
  const serverCpuAfter = cpuSeconds(child.pid)
  const machineBusyAfter = machineBusySeconds()
  const callsAfter = syscalls(child.pid)
  const elapsedS = (performance.now() - started) / 1000
  const { subscribers } = await within(published, 60_000, 'publish request')
  if (subscribers !== CLIENTS) throw new Error(`${stack.name}: ${subscribers} subscribers after publishing, expected ${CLIENTS}`)
  const clientCpuS = (clientUsage.user + clientUsage.system) / 1e6
  return {
    stack: stack.name,
    pacing,
    lastDeliveryMs: elapsedMs,
    perSecond: deliveries / (elapsedMs / 1000),
    serverCpuShare: (serverCpuAfter - serverCpu) / elapsedS,
    clientCpuShare: clientCpuS / elapsedS,
    otherCpuShare: Math.max(0, machineBusyAfter - machineBusy - (serverCpuAfter - serverCpu) - clientCpuS) / elapsedS,
    writesPerDelivery: (callsAfter.writes - serverCalls.writes) / deliveries
  }
}

async function run (stack: Stack): Promise<Result[]> {
  await waitForQuietMachine()
  const { child, port } = await startServer(stack)
  const clients: Client[] = []
  const phase = new Phase()
  const agent = stack.tls ? new HttpsAgent({ keepAlive: true, maxSockets: 1 }) : new HttpAgent({ keepAlive: true, maxSockets: 1 })
  try {
    const connectStarted = performance.now()
    await within(openClients(stack, port, phase, clients), 90_000, () => `${stack.name}: opening ${CLIENTS} clients (${clients.length} open)`)
    process.stderr.write(`  ${CLIENTS} clients open after ${Math.round(performance.now() - connectStarted)} ms\n`)
    // Publish only once every client is in the topic (socket.io joins after its CONNECT packet).
    await within((async () => {
      while ((await benchRequest(stack, port, agent, 'GET', '/bench/subscribers')).subscribers < CLIENTS) await delay(50)
    })(), 30_000, `${stack.name}: waiting for ${CLIENTS} subscribers`)
    await measure(stack, child, port, agent, phase, clients, WARMUP_PUBLISHES, 'tick') // not reported
    const results: Result[] = []
    for (const pacing of PACINGS) {
      await delay(200)
      results.push(await measure(stack, child, port, agent, phase, clients, PUBLISHES, pacing))
    }
    return results
  } finally {
    await stopServer(child)
    agent.destroy()
    for (const client of clients) client.socket.destroy()
  }
}

const ratio = (value: number | undefined, base: number | undefined): string =>
  value === undefined || base === undefined ? '–' : `${(value / base).toFixed(2)}x`

// Stacks run interleaved for BENCH_ROUNDS rounds and each reports its median round, so drift in
// this shared machine's speed over the run does not favour whichever stack ran first or last.
const runs = new Map<string, Result[]>()
const failures: string[] = []
for (let round = 1; round <= ROUNDS; round++) {
  for (const stack of STACKS) {
    process.stderr.write(`round ${round}/${ROUNDS}: ${stack.name}...\n`)
    try {
      for (const result of await run(stack)) {
        process.stderr.write(`  ${result.pacing}: last delivery after ${result.lastDeliveryMs.toFixed(0)} ms, ${Math.round(result.perSecond)} deliveries/s, server CPU ${pct(result.serverCpuShare)}, client CPU ${pct(result.clientCpuShare)}, other CPU ${pct(result.otherCpuShare)}, server write syscalls per delivery ${result.writesPerDelivery.toFixed(3)}\n`)
        const key = `${stack.name}/${result.pacing}`
        runs.set(key, [...(runs.get(key) ?? []), result])
      }
    } catch (error) {
      failures.push(`round ${round} ${stack.name}: ${(error as Error).message}`)
      process.stderr.write(`  failed: ${(error as Error).message}\n`)
    }
  }
}

const median = (stack: string, pacing: string): Result | undefined => {
  const sorted = [...(runs.get(`${stack}/${pacing}`) ?? [])].sort((a, b) => a.perSecond - b.perSecond)
  return sorted[Math.floor(sorted.length / 2)]
}
const version = (name: string): string => (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
console.log(`Fan-out: ${CLIENTS} clients in one topic, ${PUBLISHES} publishes of a 128-byte message (after a ${WARMUP_PUBLISHES}-publish warm-up), median of ${ROUNDS} interleaved rounds`)
console.log(`Node ${process.version}, ws ${version('ws')}, fastify ${version('fastify')}, @fastify/websocket ${version('@fastify/websocket')}, socket.io ${version('socket.io')} (engine.io ${version('engine.io')}); ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB`)
for (const pacing of PACINGS) {
  console.log('')
  console.log(pacing === 'tick' ? `Pacing \`tick\`: the ${PUBLISHES} publishes in one synchronous loop` : 'Pacing `turn`: one publish per event-loop turn (setImmediate)')
  console.log('')
  console.log('| stack | transport | last delivery ms | deliveries/s | server CPU | client CPU | other CPU | server write syscalls per delivery | vs naive ws loop | vs socket.io |')
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const stack of STACKS) {
    const r = median(stack.name, pacing)
    if (r === undefined) {
      console.log(`| ${stack.name} | ${stack.tls ? 'TLS' : 'TCP'} | failed | | | | | | | |`)
      continue
    }
    const vsSocketIo = stack.tls ? ratio(r.perSecond, median('socket.io', pacing)?.perSecond) : '–'
    console.log(`| ${stack.name} | ${stack.tls ? 'TLS' : 'TCP'} | ${r.lastDeliveryMs.toFixed(0)} | ${Math.round(r.perSecond).toLocaleString('en-US')} | ${pct(r.serverCpuShare)} | ${pct(r.clientCpuShare)} | ${pct(r.otherCpuShare)} | ${r.writesPerDelivery.toFixed(3)} | ${ratio(r.perSecond, median(stack.baseline, pacing)?.perSecond)} | ${vsSocketIo} |`)
  }
}
if (failures.length > 0) {
  console.log('')
  console.log(`Failed runs (left out of the medians): ${failures.join('; ')}`)
}
