import { execFile } from 'node:child_process'
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'

// What `npm pack` ships, installed offline into a fresh TypeScript service next to the host's own
// @fastify/jwt, @fastify/websocket, @fastify/rate-limit and @fastify/helmet: it must compile under
// NodeNext, bundler and node10 resolution and pass the service's own node:test suite.

const ROOT = join(import.meta.dirname, '..', '..')
const CONSUMER_SOURCES = join(import.meta.dirname, 'consumer')
const STEP_TIMEOUT_MS = 240_000

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
interface Manifest {
  name: string
  version: string
  license?: string
  engines?: Record<string, string>
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
}

const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lock
const library = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest

/** The version this repository's lockfile holds (so its tarball is in the npm cache after `npm ci`). */
function locked (name: string): string {
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
 * A lockfile for the consumer, cut from this repository's: after `npm ci` the npm cache holds every
 * tarball but not every package document, so npm cannot resolve version ranges offline. With every
 * entry pinned and its tarball URL given, `npm install --offline` reads only tarballs from the cache.
 */
function consumerLock (manifest: Manifest & { devDependencies: Record<string, string> }, tarball: string): object {
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
      engines: library.engines
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

interface Run { code: number | null, output: string }

/** Runs a command to completion (bounded), without tap's loaders or this repo's source condition. */
function run (command: string, args: string[], cwd: string): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'NODE_OPTIONS' && !key.startsWith('TAP')))
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, timeout: STEP_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null
      const output = `$ ${[command, ...args].join(' ')}\n${stdout}${stderr}${error !== null && code === null ? `\n${error.message}` : ''}`
      resolve({ code, output })
    })
  })
}

function passed (t: Test, result: Run, what: string): boolean {
  t.equal(result.code, 0, what, result.code === 0 ? {} : { output: result.output })
  if (result.code !== 0) t.comment(result.output)
  return result.code === 0
}

// npm pack builds, npm installs, tsc runs three times: minutes on a loaded machine, not tap's default.
t.setTimeout(600_000)

t.test('the packed tarball installs offline into a TypeScript service and works there', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'tether-pack-'))
  t.teardown(() => { rmSync(work, { recursive: true, force: true }) })
  const packDir = join(work, 'pack')
  const app = join(work, 'consumer')
  mkdirSync(packDir)
  mkdirSync(join(app, 'src'), { recursive: true })

  // Packed from a copy of the sources, so prepack's build writes the copy's dist/ and never races
  // another test that builds or runs this repository's dist/ at the same time.
  const source = join(work, 'package')
  for (const entry of ['package.json', 'tsconfig.json', 'README.md', 'LICENSE', 'src', 'server', 'plugins', 'routes']) {
    cpSync(join(ROOT, entry), join(source, entry), { recursive: true })
  }
  symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'), 'dir')
  if (!passed(t, await run('npm', ['pack', '--pack-destination', packDir], source), 'npm pack')) return
  const tarballName = readdirSync(packDir).find((file) => file.endsWith('.tgz'))
  if (tarballName === undefined) return t.fail('npm pack wrote no tarball')

  const list = await run('tar', ['-tzf', join(packDir, tarballName)], work)
  const shipped = list.output.split('\n').slice(1).filter(Boolean).map((file) => file.replace(/^package\//, ''))
  t.same(shipped.filter((file) => !/^dist\/src\/.+\.(js|d\.ts)$/.test(file)).sort(), ['LICENSE', 'README.md', 'package.json'], 'only dist/src JavaScript and declarations, LICENSE, README and package.json')
  t.ok(shipped.includes('dist/src/index.js') && shipped.includes('dist/src/testing.d.ts'), 'the entry points are in')

  const tarball = `file:../pack/${tarballName}`
  const manifest = {
    name: 'tether-consumer',
    version: '1.0.0',
    private: true,
    type: 'module',
    dependencies: Object.fromEntries([
      ['fastify-tether', tarball],
      ...['fastify', '@fastify/jwt', '@fastify/websocket', '@fastify/rate-limit', '@fastify/helmet', 'ws', '@sinclair/typebox', 'ioredis', 'prom-client']
        .map((name) => [name, locked(name)])
    ]) as Record<string, string>,
    devDependencies: { typescript: locked('typescript'), '@types/node': locked('@types/node') }
  }
  writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2))
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(consumerLock(manifest, tarball), null, 2))
  for (const file of readdirSync(CONSUMER_SOURCES)) copyFileSync(join(CONSUMER_SOURCES, file), join(app, 'src', file))
  const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: ['node'], rootDir: 'src', outDir: 'dist' }
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['src'] }))
  writeFileSync(join(app, 'tsconfig.bundler.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { module: 'ESNext', moduleResolution: 'bundler', noEmit: true } }))
  // Legacy resolution ignores `exports`: the subpaths' types come from `typesVersions`.
  writeFileSync(join(app, 'tsconfig.node10.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { module: 'ESNext', moduleResolution: 'node10', ignoreDeprecations: '6.0', noEmit: true } }))

  if (!passed(t, await run('npm', ['install', '--offline', '--no-audit', '--no-fund'], app), 'npm install --offline')) return
  const installed = JSON.parse(readFileSync(join(app, 'node_modules', 'fastify-tether', 'package.json'), 'utf8')) as Manifest
  t.equal(installed.version, library.version, 'the tarball is what got installed')
  const installedLock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as Lock
  t.same(Object.keys(installedLock.packages).filter((at) => at.endsWith('node_modules/fastify')), ['node_modules/fastify'], 'one fastify: the service\'s own')

  const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc')
  if (!passed(t, await run(process.execPath, [tsc, '-p', 'tsconfig.json'], app), 'tsc --strict, NodeNext')) return
  const [bundler, node10, tests] = await Promise.all([
    run(process.execPath, [tsc, '-p', 'tsconfig.bundler.json'], app),
    run(process.execPath, [tsc, '-p', 'tsconfig.node10.json'], app),
    run(process.execPath, ['--test', join('dist', 'service-test.js')], app)
  ])
  passed(t, bundler, 'tsc --strict, bundler resolution')
  passed(t, node10, 'tsc --strict, node10 resolution')
  passed(t, tests, 'the service\'s node --test suite')
})
