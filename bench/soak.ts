// Soak test (not part of the suite): the reference server in its own process under SOAK_SECONDS
// (default 180) of mixed abuse from several loopback source addresses (127.0.0.2 to 127.0.0.9,
// ws's `localAddress`), reporting the server's RSS (/proc/<pid>/status VmRSS) and event-loop delay
// (monitorEventLoopDelay, preloaded with --import bench/soak-eld.mjs) every SOAK_SAMPLE_S (5), and
// at the end whether both stayed flat. Scenarios, picked at random by SOAK_WORKERS (64) loops:
// echo churn (connect, a few round-trips, close), chat churn (authenticated, one `say`), message
// floods (closed 1008 by the rate limit), unfinished fragmented messages (first fragment only,
// then dropped), never-reading clients (the socket paused while the echo backs up), feed readers.
// Everything is bounded (deadline, per-step timeouts); loopback only; it stops by itself.
//   npm run bench:soak            SOAK_SECONDS=60 npm run bench:soak
// Several thousand sockets may be open at once across both processes: raise the file limit
// (`ulimit -n 20000`) if the soak reports EMFILE.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createSigner } from 'fast-jwt'
import { WebSocket, type ClientOptions } from 'ws'
import { ensureDevCertificates } from 'fastify-tether/dev-certs'

const SECONDS = Number(process.env['SOAK_SECONDS'] ?? 180)
const SAMPLE_S = Number(process.env['SOAK_SAMPLE_S'] ?? 5)
const WORKERS = Number(process.env['SOAK_WORKERS'] ?? 64)
const WARMUP_S = Number(process.env['SOAK_WARMUP_S'] ?? Math.min(30, Math.round(SECONDS / 5)))
const SOURCES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`)
const STEP_MS = 10_000

const fileLimit = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]
if (fileLimit !== undefined && Number(fileLimit) < 8192) {
  console.log(`note: the open file limit is ${fileLimit}; raise it (ulimit -n 20000) if sockets fail with EMFILE`)
}

const certs = await ensureDevCertificates({ dir: mkdtempSync(join(tmpdir(), 'tether-soak-')) })
const secret = randomBytes(32).toString('base64url')
const sign = createSigner({ key: secret, algorithm: 'HS256' })
const token = (sub: string, mfa: boolean): string => {
  const now = Math.floor(Date.now() / 1000)
  return sign({ sub, iat: now, exp: now + 3600, amr: mfa ? ['pwd', 'mfa'] : ['pwd'] })
}

async function startServer (): Promise<{ child: ChildProcess, port: number, eld: () => string }> {
  const child = spawn(process.execPath, [
    '--conditions=tether-source', '--import', 'tsx', '--import', join(import.meta.dirname, 'soak-eld.mjs'),
    join(import.meta.dirname, 'servers', 'soak-server.ts')
  ], {
    env: {
      ...process.env,
      BENCH_CERT: certs.cert,
      BENCH_KEY: certs.key,
      NODE_ENV: 'development',
      JWT_SECRET: secret,
      SOAK_SAMPLE_MS: String(SAMPLE_S * 1000),
      // 100 upgrades a second per source address: the limiter is exercised, not the bottleneck.
      HANDSHAKE_RATE_PER_MIN: process.env['SOAK_HANDSHAKE_RATE_PER_MIN'] ?? '6000',
      FEED_INTERVAL_MS: '200'
    },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let lastEld = 'eld (none yet)'
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^port=(\d+)$/.exec(line)
      if (match !== null) resolve(Number(match[1]))
      else if (line.startsWith('eld ')) lastEld = line
    })
    child.once('exit', (code) => reject(new Error(`soak server exited with ${code}`)))
  })
  return { child, port, eld: () => lastEld }
}

const server = await startServer()
const deadline = Date.now() + SECONDS * 1000
const counts: Record<string, number> = {}
const count = (what: string): void => { counts[what] = (counts[what] ?? 0) + 1 }
let opened = 0
let sourceIndex = 0

function bounded<T> (promise: Promise<T>, what: string, ms = STEP_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms) })
  ])
}

/** Opens a client from the next source address; resolves once open, rejects on a refusal or error. */
function open (path: string, options: ClientOptions = {}): Promise<WebSocket> {
  const localAddress = SOURCES[sourceIndex++ % SOURCES.length]
  const ws = new WebSocket(`wss://localhost:${server.port}${path}`, { ca: certs.ca, localAddress, ...options })
  return bounded(new Promise<WebSocket>((resolve, reject) => {
    ws.once('open', () => { opened++; resolve(ws) })
    ws.once('unexpected-response', (_request, response) => {
      count(`refused ${response.statusCode ?? 0}`)
      response.resume()
      ws.terminate()
      reject(new Error('refused'))
    })
    ws.once('error', (error) => { ws.terminate(); reject(error) })
  }), `open ${path}`).catch((error: unknown) => { ws.terminate(); throw error })
}

function closed (ws: WebSocket, ms = STEP_MS): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(-1)
  return bounded(new Promise((resolve) => ws.once('close', (code) => resolve(code))), 'close', ms)
}

function nextMessage (ws: WebSocket): Promise<string> {
  return bounded(new Promise((resolve) => ws.once('message', (data) => resolve(String(data)))), 'message')
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(ms, deadline - Date.now()))))
const pick = (n: number): number => Math.floor(Math.random() * n)

const scenarios: Record<string, () => Promise<void>> = {
  async echoChurn () {
    const ws = await open('/ws/echo')
    for (let i = 0, n = 1 + pick(5); i < n; i++) {
      ws.send(`hello ${i}`)
      await nextMessage(ws)
    }
    ws.close()
    await closed(ws)
  },
  async chatChurn () {
    const sub = `user-${pick(400)}`
    const ws = await open(`/ws/chat/room-${pick(20)}`, { headers: { authorization: `Bearer ${token(sub, false)}` } })
    const said = bounded(new Promise<void>((resolve) => {
      ws.on('message', (data) => { if (String(data).includes('"said"') && String(data).includes(sub)) resolve() })
    }), 'said')
    ws.send(JSON.stringify({ type: 'say', text: 'hi' }))
    await said
    ws.close()
    await closed(ws)
  },
  async flood () {
    const ws = await open('/ws/echo')
    ws.on('message', () => {})
    const done = closed(ws)
    for (let i = 0; i < 400 && ws.readyState === WebSocket.OPEN; i++) ws.send('flood')
    const code = await done
    count(`flood closed ${code}`)
  },
  async unfinishedFragment () {
    const ws = await open('/ws/echo')
    ws.send('the first fragment of a message that never ends', { fin: false })
    await delay(1000 + pick(4000))
    ws.terminate()
  },
  async neverReads () {
    const ws = await open('/ws/echo')
    const socket = (ws as unknown as { _socket: { pause: () => void } })._socket
    socket.pause() // the echo backs up in the server: send() waits for drain, then reads pause
    const chunk = 'x'.repeat(60_000)
    for (let i = 0; i < 60; i++) ws.send(chunk)
    await delay(2000 + pick(4000))
    ws.terminate()
  },
  async feedReader () {
    const ws = await open('/ws/feed', { headers: { authorization: `Bearer ${token(`reader-${pick(400)}`, true)}` } })
    await nextMessage(ws)
    await delay(1000 + pick(2000))
    ws.close()
    await closed(ws)
  }
}
const WEIGHTS: Array<[string, number]> = [['echoChurn', 35], ['chatChurn', 15], ['flood', 15], ['unfinishedFragment', 10], ['neverReads', 10], ['feedReader', 15]]
const TOTAL_WEIGHT = WEIGHTS.reduce((sum, [, w]) => sum + w, 0)
function chooseScenario (): string {
  let roll = pick(TOTAL_WEIGHT)
  for (const [name, weight] of WEIGHTS) { if ((roll -= weight) < 0) return name }
  return 'echoChurn'
}

async function worker (): Promise<void> {
  while (Date.now() < deadline) {
    const name = chooseScenario()
    try {
      await scenarios[name]!()
      count(name)
    } catch (error) {
      count(`${name} failed: ${(error as Error).message.replace(/\d+/g, 'N').slice(0, 60)}`)
      await delay(50)
    }
  }
}

interface Sample { t: number, rssMb: number, eldP50: number, eldP99: number, eldMax: number, opened: number }
const samples: Sample[] = []
const started = Date.now()
function rssMb (pid: number | undefined): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid ?? 0}/status`, 'utf8'))?.[1]) / 1024
  } catch {
    return Number.NaN
  }
}
function sample (): void {
  const eld = server.eld()
  const num = (name: string): number => Number(new RegExp(`${name}=([\\d.]+)`).exec(eld)?.[1])
  const s = { t: Math.round((Date.now() - started) / 1000), rssMb: rssMb(server.child.pid), eldP50: num('p50'), eldP99: num('p99'), eldMax: num('max'), opened }
  samples.push(s)
  console.log(`t=${String(s.t).padStart(4)}s  rss=${s.rssMb.toFixed(1)} MB  eld p50=${s.eldP50} p99=${s.eldP99} max=${s.eldMax} ms  connections opened=${opened}`)
}

console.log(`soak: ${SECONDS}s, ${WORKERS} workers from ${SOURCES[0]}-${SOURCES.at(-1)}, sampling every ${SAMPLE_S}s, warm-up ${WARMUP_S}s; server pid ${server.child.pid}`)
sample()
const sampler = setInterval(sample, SAMPLE_S * 1000)
await Promise.all(Array.from({ length: WORKERS }, () => worker()))
clearInterval(sampler)
sample()
server.child.kill('SIGTERM')

const loaded = samples.filter((s) => s.t >= WARMUP_S && s.t <= SECONDS)
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
const first = loaded.slice(0, 3)
const last = loaded.slice(-3)
const rssFirst = mean(first.map((s) => s.rssMb))
const rssLast = mean(last.map((s) => s.rssMb))
const p99First = mean(first.map((s) => s.eldP99))
const p99Last = mean(last.map((s) => s.eldP99))
const rssFlat = rssLast <= rssFirst * 1.2 + 10
const eldFlat = p99Last <= Math.max(p99First * 2, p99First + 20)
console.log('\nscenarios and outcomes:')
for (const [what, n] of Object.entries(counts).sort()) console.log(`  ${what}: ${n}`)
console.log(`\nconnections opened: ${opened} in ${SECONDS}s`)
console.log(`RSS after warm-up ${rssFirst.toFixed(1)} MB -> at the end ${rssLast.toFixed(1)} MB: ${rssFlat ? 'flat' : 'GROWING'}`)
console.log(`event-loop delay p99 after warm-up ${p99First.toFixed(2)} ms -> at the end ${p99Last.toFixed(2)} ms: ${eldFlat ? 'flat' : 'GROWING'}`)
process.exitCode = rssFlat && eldFlat ? 0 : 1
