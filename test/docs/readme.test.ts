import { execFile } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { ERROR_TABLE } from 'fastify-tether'

const ROOT = join(import.meta.dirname, '..', '..')
const readme = await readFile(join(ROOT, 'README.md'), 'utf8')

t.test('every TypeScript block in the README compiles, strict, against the public entry points', async (t) => {
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] ?? '')
  t.ok(blocks.length >= 5, `${blocks.length} blocks`)
  // Inside the package, so `fastify-tether` resolves to this package (its tether-source condition).
  const dir = join(ROOT, 'test', 'docs', `.snippets-${process.pid}`)
  await mkdir(dir, { recursive: true })
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const files = await Promise.all(blocks.map(async (block, i) => {
    const file = join(dir, `block-${i + 1}.ts`)
    // Each block is a module of its own, as a reader would paste it into a file.
    await writeFile(file, block.includes('import ') || block.includes('export ') ? block : `${block}\nexport {}\n`)
    return file
  }))
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
    extends: '../../../tsconfig.json',
    compilerOptions: { noEmit: true, rootDir: '../../..', types: ['node'] },
    files: files.map((file) => file.slice(dir.length + 1))
  }))
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: ROOT })
    t.pass('tsc accepted every block')
  } catch (error) {
    const { stdout } = error as { stdout?: string }
    t.fail(`tsc refused a README block:\n${stdout ?? String(error)}`)
  }
})

t.test('the README\'s error table is the error table', async (t) => {
  const rows = new Map<string, string[]>()
  for (const match of readme.matchAll(/^\| `(TETHER_ERR_[A-Z_]+)` \| `(\w+)` \| (\d+) \| (\d+) \|/gm)) {
    rows.set(match[1] ?? '', [match[2] ?? '', match[3] ?? '', match[4] ?? ''])
  }
  t.same([...rows.keys()].sort(), Object.keys(ERROR_TABLE).sort(), 'one row per code, no more')
  for (const [code, entry] of Object.entries(ERROR_TABLE)) {
    t.same(rows.get(code), [entry.className, String(entry.statusCode), String(entry.closeCode)], `${code}: class, status and close code`)
  }
})
