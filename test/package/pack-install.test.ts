import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { consumerLock, library, locked, packLibrary, passed, run, type Manifest } from './pack.js'

// What `npm pack` ships, installed offline into a fresh TypeScript service next to the host's own
// @fastify/jwt, @fastify/websocket, @fastify/rate-limit and @fastify/helmet: it must compile under
// NodeNext, bundler and node10 resolution and pass the service's own node:test suite.

const CONSUMER_SOURCES = join(import.meta.dirname, 'consumer')

interface Lock { packages: Record<string, unknown> }

// npm pack builds, npm installs, tsc runs three times: minutes on a loaded machine, not tap's default.
t.setTimeout(600_000)

t.test('the packed tarball installs offline into a TypeScript service and works there', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'tether-pack-'))
  t.teardown(() => { rmSync(work, { recursive: true, force: true }) })
  const packDir = join(work, 'pack')
  const app = join(work, 'consumer')
  mkdirSync(join(app, 'src'), { recursive: true })

  const tarballName = await packLibrary(t, work, packDir)
  if (tarballName === undefined) return

  const list = await run('tar', ['-tzf', join(packDir, tarballName)], work)
  const shipped = list.output.split('\n').slice(1).filter(Boolean).map((file) => file.replace(/^package\//, ''))
  t.same(shipped.filter((file) => !/^dist\/src\/.+\.(js|d\.ts)$/.test(file) && !file.startsWith('templates/service/')).sort(), ['LICENSE', 'README.md', 'package.json'], 'only dist/src JavaScript and declarations, the service template, LICENSE, README and package.json')
  t.ok(shipped.includes('dist/src/index.js') && shipped.includes('dist/src/testing.d.ts'), 'the entry points are in')
  t.ok(['src/app.ts', 'gitignore', '.ci/run', 'test/helper.ts'].every((file) => shipped.includes(`templates/service/${file}`)), 'the service template of `fastify-tether new` is in')

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
