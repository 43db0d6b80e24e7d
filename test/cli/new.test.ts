import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { createInterface } from 'node:readline'
import t from 'tap'
import { WebSocket } from 'ws'
import { waitClose, waitEvent, waitOpen, withTimeout } from 'fastify-tether/testing'
import { cleanEnv, consumerLock, library, packLibrary, passed, ROOT, run, type Manifest } from '../package/pack.js'

// `fastify-tether new` end to end: the service it scaffolds, on the packed tarball installed offline
// from the npm cache, passes its own `npm test` (tsc, then tap over real wss) and its `npm start`
// serves wss with its development CA and exits 0 on SIGTERM.

// npm pack builds, npm installs, tsc runs twice, tap runs: minutes on a loaded machine.
t.setTimeout(600_000)

t.test('a scaffolded service installs offline, passes its tests and serves wss', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'tether-new-'))
  t.teardown(() => { rmSync(work, { recursive: true, force: true }) })
  const packDir = join(work, 'pack')
  const service = join(work, 'svc')

  const [tarballName, generated] = await Promise.all([
    packLibrary(t, work, packDir),
    run(process.execPath, ['--conditions=tether-source', '--import', 'tsx', join(ROOT, 'src', 'cli.ts'), 'new', service], ROOT)
  ])
  if (tarballName === undefined) return
  if (!passed(t, generated, 'fastify-tether new')) return
  t.match(generated.output, /Next steps:/)

  const manifest = JSON.parse(readFileSync(join(service, 'package.json'), 'utf8')) as Manifest & { dependencies: Record<string, string>, devDependencies: Record<string, string> }
  t.equal(manifest.name, 'svc', 'named after its folder')
  t.equal(manifest.dependencies['fastify-tether'], `^${library.version}`, 'depends on the running CLI\'s version')
  for (const name of ['fastify', '@fastify/autoload', 'close-with-grace']) t.equal(manifest.dependencies[name], library.devDependencies?.[name] ?? library.dependencies?.[name], `${name} at this repo's range`)
  for (const name of ['typescript', 'tsx', 'tap', '@types/node']) t.equal(manifest.devDependencies[name], library.devDependencies?.[name], `${name} at this repo's range`)

  // The service's fastify-tether is the tarball; everything else comes from the npm cache.
  const tarball = `file:../pack/${tarballName}`
  manifest.dependencies['fastify-tether'] = tarball
  writeFileSync(join(service, 'package.json'), JSON.stringify(manifest, null, 2))
  writeFileSync(join(service, 'package-lock.json'), JSON.stringify(consumerLock(manifest, tarball), null, 2))
  if (!passed(t, await run('npm', ['install', '--offline', '--no-audit', '--no-fund'], service), 'npm install --offline')) return

  // The installed bin (dist/, the template shipped in the tarball) scaffolds the same files.
  const again = join(work, 'again')
  if (passed(t, await run(join(service, 'node_modules', '.bin', 'fastify-tether'), ['new', again, '--name', 'svc'], service), 'the installed fastify-tether new')) {
    const files = (dir: string): string[] => (readdirSync(dir, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile() && !entry.parentPath.includes('node_modules') && !entry.name.startsWith('package'))
      .map((entry) => relative(dir, join(entry.parentPath, entry.name))).sort()
    const shipped = files(again)
    t.same(shipped, files(service), 'the same files as from the sources')
    t.ok(shipped.every((file) => readFileSync(join(again, file), 'utf8') === readFileSync(join(service, file), 'utf8')), 'with the same contents')
    t.ok((statSync(join(again, '.ci', 'run')).mode & 0o111) !== 0, '.ci/run is executable')
  }

  const tested = await run('npm', ['test'], service)
  if (passed(t, tested, 'the service\'s npm test (tsc, then tap over wss)')) {
    t.match(tested.output, /# \{ total: \d+, pass: [1-9]\d* \}/, 'its tap tests ran, and none failed', { output: tested.output })
  }

  // npm start: build, then the server itself, on a free port with its own certificate folder.
  const certDir = join(work, 'certs')
  const child = spawn('npm', ['start'], { cwd: service, env: cleanEnv({ PORT: '0', CERT_DIR: certDir, LOG_LEVEL: 'info' }), stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let output = ''
  child.stderr.on('data', (chunk: Buffer) => { output += String(chunk) })
  const lines: Array<Record<string, unknown>> = []
  const ready = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (text) => {
      output += `${text}\n`
      if (!text.startsWith('{')) return
      const line = JSON.parse(text) as Record<string, unknown>
      lines.push(line)
      if (line['msg'] === 'service ready') resolve(String(line['url']))
    })
    child.once('exit', (code) => { reject(new Error(`npm start exited with ${code} before it was ready:\n${output}`)) })
  })
  const url = await withTimeout(ready, 'for the service to be ready', 180_000)
  t.match(url, /^wss:\/\/localhost:\d+$/)
  const readyLine = lines.find((line) => line['msg'] === 'service ready')
  t.equal(readyLine?.['ca'], join(certDir, 'ca.pem'), 'the ready line names the development CA')

  const ca = readFileSync(join(certDir, 'ca.pem'), 'utf8')
  const ws = new WebSocket(`${url}/ws/echo`, { ca })
  await waitOpen(ws)
  const echoed = waitEvent(ws, 'message')
  ws.send('hello over wss')
  t.equal(String((await echoed)[0]), 'hello over wss', 'echo over wss, trusting the service\'s dev CA')

  const exited = waitEvent(child, 'exit', 30_000)
  const closed = waitClose(ws, 30_000)
  child.kill('SIGTERM')
  t.equal((await closed).code, 1001, 'SIGTERM drains: the socket is closed with 1001')
  const [code, signal] = await exited
  t.same({ code, signal }, { code: 0, signal: null }, 'npm start exits 0 after SIGTERM', { output })
  t.ok(lines.some((line) => line['msg'] === 'shutting down'), 'the shutdown is logged')
})
