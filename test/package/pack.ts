import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'

// What the package tests share: packing this repository from a copy of its sources, and installing
// the tarball OFFLINE into a temporary project from the npm cache that `npm ci` of this repo filled.

/** This repository's root. */
export const ROOT = join(import.meta.dirname, '..', '..')
/** The longest one step (npm pack, npm install, tsc, a test run) may take. */
export const STEP_TIMEOUT_MS = 240_000

interface Lock { packages: Record<string, LockEntry> }
interface LockEntry {
  version?: string
  resolved?: string
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
  [key: string]: unknown
}

/** The parts of a package.json the package tests read. */
export interface Manifest {
  name: string
  version: string
  license?: string
  engines?: Record<string, string>
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
  bin?: Record<string, string>
}

const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lock
/** This repository's package.json. */
export const library = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest

/** The version this repository's lockfile holds (so its tarball is in the npm cache after `npm ci`). */
export function locked (name: string): string {
  const version = lock.packages[`node_modules/${name}`]?.version
  if (version === undefined) throw new Error(`${name} is not in package-lock.json`)
  return version
}

/** The lockfile entry that `name` required from `from` resolves to, walking up as Node does. */
function resolveIn (from: string, name: string): string | undefined {
  let dir = from
  for (;;) {
    const candidate = `${dir === '' ? '' : `${dir}/`}node_modules/${name}`
    if (lock.packages[candidate] !== undefined) return candidate
    if (dir === '') return undefined
    const parent = dir.lastIndexOf('/node_modules/')
    dir = parent === -1 ? '' : dir.slice(0, parent)
  }
}

/**
 * A lockfile for a consumer, cut from this repository's: after `npm ci` the npm cache holds every
 * tarball but not every package document, so npm cannot resolve version ranges offline. With every
 * entry pinned and its tarball URL given, `npm install --offline` reads only tarballs from the cache.
 * `tarball` is what the consumer's `fastify-tether` dependency says (`file:...`).
 */
export function consumerLock (manifest: Manifest & { devDependencies: Record<string, string> }, tarball: string): object {
  const dependencies = manifest.dependencies ?? {}
  const packages: Record<string, LockEntry> = {
    '': { name: manifest.name, version: manifest.version, dependencies, devDependencies: manifest.devDependencies },
    'node_modules/fastify-tether': {
      version: library.version,
      resolved: tarball,
      license: library.license,
      dependencies: library.dependencies,
      peerDependencies: library.peerDependencies,
      peerDependenciesMeta: library.peerDependenciesMeta,
      engines: library.engines,
      // npm links bins from the lockfile's entry, not from the installed package.json.
      bin: library.bin
    }
  }
  const wanted = [...Object.keys(dependencies).filter((name) => name !== 'fastify-tether'), ...Object.keys(manifest.devDependencies), ...Object.keys(library.dependencies ?? {})]
  const queue: Array<[string, string[]]> = [['', wanted]]
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const [from, names] = next
    for (const name of names) {
      const at = resolveIn(from, name)
      if (at === undefined) throw new Error(`${name} (needed by ${from || 'the consumer'}) is not in package-lock.json`)
      if (packages[at] !== undefined) continue
      // The repository's dev/peer flags describe its own tree, not the consumer's: npm recomputes them.
      const { dev, devOptional, peer, ...entry } = lock.packages[at] as LockEntry
      const packageName = at.slice(at.lastIndexOf('node_modules/') + 'node_modules/'.length)
      entry.resolved = `https://registry.npmjs.org/${packageName}/-/${packageName.split('/').pop() ?? ''}-${entry.version ?? ''}.tgz`
      packages[at] = entry
      queue.push([at, [
        ...Object.keys(entry.dependencies ?? {}),
        ...Object.keys(entry.optionalDependencies ?? {}).filter((optional) => resolveIn(at, optional) !== undefined),
        ...Object.keys(entry.peerDependencies ?? {}).filter((peerName) => entry.peerDependenciesMeta?.[peerName]?.optional !== true)
      ]])
    }
  }
  return { name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages }
}

/** How a command ended, and everything it printed (after a `$ command` line). */
export interface Run { code: number | null, output: string }

/** The environment without tap's loaders or this repo's source condition. */
export function cleanEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'NODE_OPTIONS' && !key.startsWith('TAP'))), ...extra }
}

/** Runs a command to completion (bounded), without tap's loaders or this repo's source condition. */
export function run (command: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: cleanEnv(env), timeout: STEP_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null
      const output = `$ ${[command, ...args].join(' ')}\n${stdout}${stderr}${error !== null && code === null ? `\n${error.message}` : ''}`
      resolve({ code, output })
    })
  })
}

/** Asserts that `result` exited 0, showing its output when it did not. */
export function passed (t: Test, result: Run, what: string): boolean {
  t.equal(result.code, 0, what, result.code === 0 ? {} : { output: result.output })
  if (result.code !== 0) t.comment(result.output)
  return result.code === 0
}

/** What this repository ships besides package.json (the folders and files copied before packing). */
const PACKED_SOURCES = ['package.json', 'tsconfig.json', 'README.md', 'LICENSE', 'src', 'server', 'plugins', 'routes', 'templates']

/**
 * Packs this repository into `packDir` and returns the tarball's file name. Packed from a copy of
 * the sources under `work`, so prepack's build writes the copy's dist/ and never races another test
 * that builds or runs this repository's dist/ at the same time. Undefined (after a failed
 * assertion) when packing failed.
 */
export async function packLibrary (t: Test, work: string, packDir: string): Promise<string | undefined> {
  const source = join(work, 'package')
  for (const entry of PACKED_SOURCES) {
    if (existsSync(join(ROOT, entry))) cpSync(join(ROOT, entry), join(source, entry), { recursive: true })
  }
  symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'), 'dir')
  mkdirSync(packDir, { recursive: true })
  if (!passed(t, await run('npm', ['pack', '--pack-destination', packDir], source), 'npm pack')) return undefined
  const tarballName = readdirSync(packDir).find((file) => file.endsWith('.tgz'))
  if (tarballName === undefined) {
    t.fail('npm pack wrote no tarball')
    return undefined
  }
  return tarballName
}
