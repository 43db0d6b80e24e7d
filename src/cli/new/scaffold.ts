import { existsSync, readFileSync } from 'node:fs'
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/** This package's own package.json, as far as scaffolding reads it. */
interface OwnManifest {
  name: string
  version: string
  engines?: Record<string, string>
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

/** What a scaffolded service depends on at run time, besides fastify-tether. */
const RUNTIME_DEPENDENCIES = ['fastify', '@fastify/autoload', 'close-with-grace', 'fastify-plugin']
/** What it needs to build and test. */
const DEV_DEPENDENCIES = ['typescript', 'tsx', 'tap', '@types/node']

/**
 * Template files whose names npm would not ship as they are (`npm pack` never includes a
 * `.gitignore`), renamed when copied.
 */
const RENAMED: Record<string, string> = { gitignore: '.gitignore' }

/**
 * The root of the installed fastify-tether package (or of its repository when run from sources):
 * the first folder above this module holding a package.json named fastify-tether.
 */
export function packageRoot (from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'fastify-tether') return dir
    if (dirname(dir) === dir) throw new Error(`no fastify-tether package.json above ${from}`)
  }
}

/** The folder the service template is copied from. */
export function templateDir (root: string = packageRoot()): string {
  return join(root, 'templates', 'service')
}

function ownManifest (root: string): OwnManifest {
  return JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as OwnManifest
}

function range (manifest: OwnManifest, name: string): string {
  const version = manifest.dependencies?.[name] ?? manifest.devDependencies?.[name] ?? manifest.peerDependencies?.[name]
  if (version === undefined) throw new Error(`fastify-tether's package.json has no version of ${name}`)
  return version
}

/**
 * The scaffolded service's package.json: it depends on this fastify-tether (`^` its version) and
 * on the versions of fastify, @fastify/autoload, close-with-grace, fastify-plugin, TypeScript, tsx,
 * tap and @types/node this package is built and tested with.
 */
export function servicePackageJson (name: string, root: string = packageRoot()): Record<string, unknown> {
  const own = ownManifest(root)
  return {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    engines: { node: own.engines?.['node'] ?? '>=20.19.0' },
    scripts: {
      build: 'tsc -p tsconfig.build.json',
      prestart: 'npm run build',
      start: 'exec node dist/src/server.js',
      dev: 'tsx watch src/server.ts',
      typecheck: 'tsc --noEmit',
      test: 'tsc --noEmit && tap'
    },
    tap: {
      plugin: ['!@tapjs/typescript'],
      'node-arg': ['--import=tsx'],
      include: ['test/**/*.test.ts'],
      'disable-coverage': true
    },
    dependencies: Object.fromEntries([
      [own.name, `^${own.version}`],
      ...RUNTIME_DEPENDENCIES.map((dependency) => [dependency, range(own, dependency)])
    ]) as Record<string, string>,
    devDependencies: Object.fromEntries(DEV_DEPENDENCIES.map((dependency) => [dependency, range(own, dependency)])) as Record<string, string>
  }
}

/** Options of {@link scaffoldService}. */
export interface ScaffoldOptions {
  /** The folder to create the service in; created when missing. */
  dir: string
  /** The package name (already valid for npm). */
  name: string
  /** Write into a non-empty folder, replacing files of the same names. */
  force?: boolean
  /** fastify-tether's root (where the template and the versions come from). Default: this package. */
  root?: string
}

/** A folder that is not empty, refused without `force`. */
export class TargetNotEmptyError extends Error {
  constructor (readonly dir: string) {
    super(`${dir} is not empty (use --force to write into it anyway)`)
    this.name = 'TargetNotEmptyError'
  }
}

/**
 * Writes a service into `dir`: package.json, the template's files (with `{{name}}` replaced), and
 * the executable bit on `.ci/run`. Returns the paths written, relative to `dir`.
 */
export async function scaffoldService (options: ScaffoldOptions): Promise<string[]> {
  const { dir, name } = options
  const root = options.root ?? packageRoot()
  const existing = await stat(dir).catch(() => undefined)
  if (existing !== undefined) {
    if (!existing.isDirectory()) throw new TargetNotEmptyError(dir)
    if ((await readdir(dir)).length > 0 && options.force !== true) throw new TargetNotEmptyError(dir)
  }
  const template = templateDir(root)
  const written: string[] = []
  const write = async (file: string, content: string | Buffer): Promise<void> => {
    await mkdir(dirname(join(dir, file)), { recursive: true })
    await writeFile(join(dir, file), content)
    written.push(file)
  }
  await write('package.json', `${JSON.stringify(servicePackageJson(name, root), null, 2)}\n`)
  for (const entry of await readdir(template, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const from = join(entry.parentPath, entry.name)
    const path = relative(template, from)
    const target = join(dirname(path), RENAMED[entry.name] ?? entry.name)
    await write(target, (await readFile(from, 'utf8')).replaceAll('{{name}}', name))
  }
  await chmod(join(dir, '.ci', 'run'), 0o755)
  return written.sort()
}
