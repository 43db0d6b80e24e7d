// Echo benchmark: 100 wss connections, each keeping 16 messages of 64 bytes in flight, for
// BENCH_SECONDS (default 10) per stack, against servers in their own process (the client runs in
// this one). Prints round-trips per second and p50/p99 latency side by side, as ratios to raw ws.
//   npm run bench:echo
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { request as httpsRequest } from 'node:https'
import { mkdtempSync, readFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Socket } from 'node:net'
import { ensureDevCertificates } from 'fastify-tether/dev-certs'
import { cpuSeconds, syscalls } from './proc-stats.js'

const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 100)
const IN_FLIGHT = 16
const MESSAGE = 'x'.repeat(64)
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10)
const WARMUP_SECONDS = 2
const ALL_STACKS = ['ws', 'fastify-websocket', 'tether']
const STACKS = process.env['BENCH_STACKS']?.split(',') ?? ALL_STACKS

interface Result { stack: string, roundTrips: number, perSecond: number, p50Ms: number, p99Ms: number, serverCpuShare: number, clientCpuShare: number, writesPerRoundTrip: number, readsPerRoundTrip: number }

const certs = await ensureDevCertificates({ dir: mkdtempSync(join(tmpdir(), 'tether-bench-')) })

async function startServer (stack: string): Promise<{ child: ChildProcess, port: number }> {
  const extraArgs = process.env['BENCH_SERVER_NODE_ARGS']?.split(' ').filter(Boolean) ?? []
  const child = spawn(process.execPath, [...extraArgs, '--import', 'tsx', join(import.meta.dirname, 'servers', 'echo-server.ts'), stack], {
    env: { ...process.env, BENCH_CERT: certs.cert, BENCH_KEY: certs.key, NODE_ENV: 'development' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^port=(\d+)$/.exec(line)
      if (match !== null) resolve(Number(match[1]))
    })
    child.once('exit', (code) => reject(new Error(`${stack} server exited with ${code}`)))
  })
  return { child, port }
}

/**
 * The load generator speaks the protocol with pre-built frames so that it costs far less CPU than
 * any server under test: the handshake is a real HTTP upgrade, each request is one masked 64-byte
 * text frame (zero mask, which RFC 6455 allows), and since every echo is exactly 66 bytes
 * (2-byte header, 64-byte payload) replies are counted, not parsed.
 */
const FRAME = Buffer.concat([Buffer.from([0x81, 0x80 | MESSAGE.length, 0, 0, 0, 0]), Buffer.from(MESSAGE)])
const REPLY_BYTES = 2 + MESSAGE.length
const FRAMES = Buffer.concat(Array.from({ length: IN_FLIGHT }, () => FRAME))

function openRaw (port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest({
      host: '127.0.0.1',
      servername: 'localhost',
      port,
      path: '/ws/echo',
      ca: certs.ca,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64')
      }
    })
    request.once('upgrade', (response, socket) => {
      if (response.statusCode !== 101) reject(new Error(`upgrade refused: ${response.statusCode}`))
      else resolve(socket as Socket)
    })
    request.once('response', (response) => reject(new Error(`upgrade refused: ${response.statusCode}`)))
    request.once('error', reject)
    request.end()
  })
}

async function run (stack: string): Promise<Result> {
  const { child, port } = await startServer(stack)
  const latencies = new Float64Array(20_000_000)
  let count = 0
  let measuring = false
  let stopped = false
  const sockets: Socket[] = []
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    const socket = await openRaw(port)
    sockets.push(socket)
    socket.setNoDelay(true)
    const sentAt: number[] = []
    let pending = 0
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.length
      const replies = Math.floor(pending / REPLY_BYTES)
      pending -= replies * REPLY_BYTES
      const now = performance.now()
      for (let i = 0; i < replies; i++) {
        const started = sentAt.shift() ?? now
        if (measuring && count < latencies.length) latencies[count++] = now - started
      }
      if (!stopped && replies > 0) {
        for (let i = 0; i < replies; i++) sentAt.push(now)
        socket.write(replies === IN_FLIGHT ? FRAMES : FRAMES.subarray(0, replies * FRAME.length))
      }
    })
    socket.on('error', () => {})
    const now = performance.now()
    for (let i = 0; i < IN_FLIGHT; i++) sentAt.push(now)
    socket.write(FRAMES)
  }))
  await new Promise((resolve) => setTimeout(resolve, WARMUP_SECONDS * 1000))
  measuring = true
  const clientCpu = process.cpuUsage()
  const serverCpu = cpuSeconds(child.pid)
  const serverCalls = syscalls(child.pid)
  const started = performance.now()
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000))
  measuring = false
  const elapsedS = (performance.now() - started) / 1000
  const clientUsage = process.cpuUsage(clientCpu)
  const clientCpuShare = (clientUsage.user + clientUsage.system) / 1e6 / elapsedS
  const serverCpuShare = (cpuSeconds(child.pid) - serverCpu) / elapsedS
  const callsAfter = syscalls(child.pid)
  const countAtEnd = count
  stopped = true
  for (const socket of sockets) socket.destroy()
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
  const sorted = latencies.subarray(0, count).sort()
  return {
    stack,
    roundTrips: count,
    perSecond: count / elapsedS,
    p50Ms: sorted[Math.floor(count * 0.5)] ?? 0,
    p99Ms: sorted[Math.floor(count * 0.99)] ?? 0,
    serverCpuShare,
    clientCpuShare,
    writesPerRoundTrip: (callsAfter.writes - serverCalls.writes) / countAtEnd,
    readsPerRoundTrip: (callsAfter.reads - serverCalls.reads) / countAtEnd
  }
}

const pct = (share: number): string => Number.isNaN(share) ? 'n/a' : `${Math.round(share * 100)}%`

// Stacks run interleaved for BENCH_ROUNDS rounds and each reports its median round, so drift in
// this shared machine's speed over the run does not favour whichever stack ran first or last.
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3)
const runs = new Map<string, Result[]>(STACKS.map((stack) => [stack, []]))
for (let round = 1; round <= ROUNDS; round++) {
  for (const stack of STACKS) {
    process.stderr.write(`round ${round}/${ROUNDS}: ${stack} for ${SECONDS} s...\n`)
    const result = await run(stack)
    process.stderr.write(`  ${Math.round(result.perSecond)} round-trips/s, server CPU ${pct(result.serverCpuShare)}, server write syscalls per round-trip ${result.writesPerRoundTrip.toFixed(3)}, reads ${result.readsPerRoundTrip.toFixed(3)}\n`)
    runs.get(stack)?.push(result)
  }
}
const results: Result[] = STACKS.map((stack) => {
  const sorted = [...(runs.get(stack) ?? [])].sort((a, b) => a.perSecond - b.perSecond)
  const median = sorted[Math.floor(sorted.length / 2)]
  if (median === undefined) throw new Error(`no result for ${stack}`)
  return median
})
const baseline = results.find((r) => r.stack === 'ws')?.perSecond
const version = (name: string): string => (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
console.log(`Echo over TLS: ${CONNECTIONS} connections x ${IN_FLIGHT} in flight x 64-byte text, ${SECONDS} s per stack after ${WARMUP_SECONDS} s warm-up, median of ${ROUNDS} interleaved rounds`)
console.log(`Node ${process.version}, ws ${version('ws')}, fastify ${version('fastify')}, @fastify/websocket ${version('@fastify/websocket')}; ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}`)
console.log('')
console.log('| stack | round-trips/s | p50 ms | p99 ms | server CPU | client CPU | server writes per round-trip | vs raw ws |')
console.log('|---|---:|---:|---:|---:|---:|---:|---:|')
for (const r of results) {
  console.log(`| ${r.stack} | ${Math.round(r.perSecond).toLocaleString('en-US')} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${pct(r.serverCpuShare)} | ${pct(r.clientCpuShare)} | ${r.writesPerRoundTrip.toFixed(3)} | ${baseline === undefined ? '–' : `${(r.perSecond / baseline).toFixed(2)}x`} |`)
}
