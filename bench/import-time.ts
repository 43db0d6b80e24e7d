// Import-time benchmark: how long a fresh Node process takes to import the built main entry
// (dist/src/index.js) against fastify + @fastify/websocket (and against the plugins tether bundles),
// each in its own child process, interleaved for BENCH_ROUNDS rounds (default 21), medians
// reported. A separate listing run per target names the packages it loads, and fails the benchmark
// if the main entry loads ioredis, @peculiar/x509 or reflect-metadata.
//   npm run bench:import    (builds first)
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'

const ROOT = join(import.meta.dirname, '..')
const ENTRY = join(ROOT, 'dist', 'src', 'index.js')
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 21)
const HEAVY = ['ioredis', '@peculiar/x509', 'reflect-metadata']
const exec = promisify(execFile)

interface Target { name: string, specifiers: string[] }

const tether = pathToFileURL(ENTRY).href
const TARGETS: Target[] = [
  { name: 'fastify + @fastify/websocket', specifiers: ['fastify', '@fastify/websocket'] },
  { name: 'fastify + @fastify/websocket + @fastify/jwt + @fastify/rate-limit + @sinclair/typebox', specifiers: ['fastify', '@fastify/websocket', '@fastify/jwt', '@fastify/rate-limit', '@sinclair/typebox'] },
  { name: 'fastify-tether (dist/src/index.js)', specifiers: [tether] },
  { name: 'fastify + fastify-tether', specifiers: ['fastify', tether] }
]
const BASELINE = TARGETS[0] as Target
// Listed only, as controls: the heavy modules belong here, so the listing must find them.
const SUBPATHS: Target[] = [
  { name: 'fastify-tether/redis (dist/src/redis.js)', specifiers: [pathToFileURL(join(ROOT, 'dist', 'src', 'redis.js')).href] },
  { name: 'fastify-tether/dev-certs (dist/src/dev-certs.js)', specifiers: [pathToFileURL(join(ROOT, 'dist', 'src', 'dev-certs.js')).href] }
]

/** A child's script: import the specifiers one after the other and print how long that took. */
function timingScript (target: Target): string {
  return `const start = performance.now()
${target.specifiers.map((specifier) => `await import(${JSON.stringify(specifier)})`).join('\n')}
console.log(JSON.stringify({ importMs: performance.now() - start }))`
}

/**
 * A child's script that imports the same way and prints every package it loaded: CommonJS from
 * the require cache, ES modules from a load hook (which CommonJS `require` calls do not pass
 * through on Node 20). Not timed: the hook slows loading down.
 */
function listingScript (target: Target): string {
  const hook = `let port
export function initialize (data) { port = data.port }
export async function load (url, context, next) { port.postMessage(url); return next(url, context) }`
  return `import { createRequire, register } from 'node:module'
import { MessageChannel } from 'node:worker_threads'
const urls = []
const { port1, port2 } = new MessageChannel()
port1.on('message', (url) => urls.push(url))
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}), { data: { port: port2 }, transferList: [port2] })
${target.specifiers.map((specifier) => `await import(${JSON.stringify(specifier)})`).join('\n')}
await new Promise((resolve) => setTimeout(resolve, 200))
port1.close()
const files = [...urls.filter((url) => url.startsWith('file:')).map((url) => decodeURIComponent(new URL(url).pathname)), ...Object.keys(createRequire(import.meta.url).cache)]
const packages = new Set(files.flatMap((file) => { const match = /.*node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(file); return match === null ? [] : [match[1]] }))
console.log(JSON.stringify({ packages: [...packages].sort(), modules: new Set(files).size, reflectMetadata: typeof Reflect.getMetadata === 'function' }))`
}

async function child (script: string): Promise<string> {
  const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, timeout: 60_000 })
  return stdout
}

async function timeOnce (target: Target): Promise<{ importMs: number, processMs: number }> {
  const start = performance.now()
  const stdout = await child(timingScript(target))
  const processMs = performance.now() - start
  return { importMs: (JSON.parse(stdout) as { importMs: number }).importMs, processMs }
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

if (!existsSync(ENTRY)) {
  console.error(`${ENTRY} is missing: run npm run build first (npm run bench:import does)`)
  process.exit(1)
}

const version = (name: string): string => (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
console.log(`Node ${process.version}, fastify ${version('fastify')}, @fastify/websocket ${version('@fastify/websocket')}, @fastify/jwt ${version('@fastify/jwt')}, @fastify/rate-limit ${version('@fastify/rate-limit')}, @sinclair/typebox ${version('@sinclair/typebox')}; ${ROUNDS} rounds`)

// An empty child: Node's own start-up, to read the process times against.
const empty: Target = { name: 'node (nothing imported)', specifiers: [] }
const all = [empty, ...TARGETS]
const samples = new Map(all.map((target) => [target, { importMs: [] as number[], processMs: [] as number[] }]))
for (const target of all) await timeOnce(target) // warm the file cache; not counted
for (let round = 0; round < ROUNDS; round++) {
  // Interleaved, in a rotating order, so drift of this shared machine hits every target alike.
  for (let i = 0; i < all.length; i++) {
    const target = all[(i + round) % all.length] as Target
    const sample = await timeOnce(target)
    samples.get(target)?.importMs.push(sample.importMs)
    samples.get(target)?.processMs.push(sample.processMs)
  }
}

const baseline = median(samples.get(BASELINE)?.importMs ?? [])
console.log('\n| imports | import ms (median) | process ms (median) | vs fastify + @fastify/websocket |')
console.log('|---|---:|---:|---:|')
for (const target of all) {
  const { importMs, processMs } = samples.get(target) ?? { importMs: [], processMs: [] }
  const ratio = target === empty ? '–' : `${(median(importMs) / baseline).toFixed(2)}x`
  console.log(`| ${target.name} | ${median(importMs).toFixed(1)} | ${median(processMs).toFixed(1)} | ${ratio} |`)
}

console.log('\nPackages loaded (heavy ones marked):')
let leaked = false
for (const target of [...TARGETS, ...SUBPATHS]) {
  const listing = JSON.parse(await child(listingScript(target))) as { packages: string[], modules: number, reflectMetadata: boolean }
  const heavy = HEAVY.filter((name) => listing.packages.includes(name) || (name === 'reflect-metadata' && listing.reflectMetadata))
  console.log(`- ${target.name}: ${listing.modules} modules, ${listing.packages.length} packages; heavy: ${heavy.length === 0 ? 'none' : heavy.join(', ')}`)
  console.log(`  ${listing.packages.join(' ')}`)
  if (target.specifiers.includes(tether) && heavy.length > 0) leaked = true
}
if (leaked) {
  console.error('\nThe main entry loads a heavy module that belongs to a subpath entry.')
  process.exitCode = 1
}
