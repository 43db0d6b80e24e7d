import { execFile } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { invalidPackageName } from '../../src/cli/new/package-name.js'

// The fast checks of `fastify-tether new`: refusals and usage errors, run as the bin runs.

const ROOT = join(import.meta.dirname, '..', '..')

function cli (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--conditions=tether-source', '--import', 'tsx', join(ROOT, 'src', 'cli.ts'), ...args], { cwd: ROOT, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr })
    })
  })
}

t.test('a folder that is not empty is refused (exit 1) and left alone', async (t) => {
  const dir = t.testdir({ 'notes.txt': 'mine' })
  const result = await cli(['new', dir])
  t.equal(result.code, 1)
  t.match(result.stderr, /is not empty \(use --force/)
  t.notOk(existsSync(join(dir, 'package.json')), 'nothing written')
})

t.test('--force writes into it, keeping the other files', async (t) => {
  const dir = t.testdir({ 'notes.txt': 'mine' })
  const result = await cli(['new', dir, '--force', '--name', '@team/svc'])
  t.equal(result.code, 0, result.stderr)
  t.ok(existsSync(join(dir, 'notes.txt')))
  t.ok(existsSync(join(dir, 'src', 'app.ts')) && existsSync(join(dir, '.gitignore')) && existsSync(join(dir, '.ci', 'run')))
  t.match(result.stdout, /Next steps:[\s\S]*npm install && npm start[\s\S]*npm test/)
})

t.test('a bad --name is a usage error (exit 2)', async (t) => {
  const dir = join(t.testdir(), 'svc')
  const result = await cli(['new', dir, '--name', 'Not A Name'])
  t.equal(result.code, 2)
  t.match(result.stderr, /not a valid npm package name/)
  t.notOk(existsSync(dir), 'nothing written')
})

t.test('a folder name that is no package name needs --name (exit 2)', async (t) => {
  const parent = t.testdir()
  mkdirSync(join(parent, 'My Service'))
  const result = await cli(['new', join(parent, 'My Service')])
  t.equal(result.code, 2)
  t.match(result.stderr, /pass --name/)
})

t.test('--help describes the command (exit 0); a missing folder is a usage error', async (t) => {
  const help = await cli(['new', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /Usage: fastify-tether new \[options\] <dir>/)
  t.match(help.stdout, /--name <name>/)
  t.match(help.stdout, /--force/)
  t.equal((await cli(['new'])).code, 2)
})

t.test('package names follow npm\'s rules for new packages', async (t) => {
  for (const name of ['svc', 'my-service', '@team/svc', 'a.b_c~d']) t.equal(invalidPackageName(name), undefined, name)
  for (const name of ['', 'Svc', '.svc', '_svc', 'my service', 'http', 'node_modules', '@team/', 'a/b', 'x'.repeat(215), 'caf\u00e9']) t.type(invalidPackageName(name), 'string', JSON.stringify(name))
})
