/**
 * `fastify-tether cert --install`: the development CA into the current user's NSS database
 * (`$HOME/.pki/nssdb`, the one Chromium and Chrome use on Linux), through NSS's `certutil`.
 * @packageDocumentation
 */
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { access, mkdir } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'

/** `certutil` is not on PATH: the message names the package that provides it. */
export class CertutilMissingError extends Error {
  override name = 'CertutilMissingError'
  constructor () {
    super('certutil (NSS tools) is not installed: Debian/Ubuntu `sudo apt-get install libnss3-tools`, ' +
      'Fedora `sudo dnf install nss-tools`, Arch `sudo pacman -S nss`, macOS `brew install nss`; then run `fastify-tether cert --install` again')
  }
}

/** What {@link installInNss} did. */
export interface NssInstallResult {
  /** The database folder (`$HOME/.pki/nssdb`). */
  database: string
  /** True when the database did not exist and was created (empty password). */
  createdDatabase: boolean
  /** `added` (first time), `replaced` (a different certificate had the nickname), `unchanged` (already there; trust re-asserted). */
  action: 'added' | 'replaced' | 'unchanged'
  nickname: string
  /** The trust flags certutil lists for the nickname afterwards: `C,,` (a CA trusted for TLS servers). */
  trust: string
}

/** Options of {@link installInNss}. */
export interface NssInstallOptions {
  caPath: string
  /** PEM of the CA, compared with what the nickname already holds. */
  caPem: string
  nickname: string
  /** Default: the current user's home (`$HOME`). */
  home?: string
}

/**
 * Adds the CA to `$HOME/.pki/nssdb` with trust `C,,` under `nickname`, creating the database
 * (`certutil -N --empty-password`) when missing. Idempotent: the same CA under the nickname is
 * kept (its trust re-set), a different one is deleted and replaced. Throws
 * {@link CertutilMissingError} when certutil is not installed.
 */
export async function installInNss (options: NssInstallOptions): Promise<NssInstallResult> {
  const database = join(options.home ?? homedir(), '.pki', 'nssdb')
  const spec = `sql:${database}`
  await mkdir(database, { recursive: true, mode: 0o700 })
  const createdDatabase = !await exists(join(database, 'cert9.db'))
  if (createdDatabase) await certutil(['-N', '-d', spec, '--empty-password'])

  const wanted = new X509Certificate(options.caPem).fingerprint256
  const held = await certificatesNamed(spec, options.nickname)
  let action: NssInstallResult['action']
  if (held.length === 1 && held[0] === wanted) {
    await certutil(['-M', '-d', spec, '-n', options.nickname, '-t', 'C,,'])
    action = 'unchanged'
  } else {
    for (let i = 0; i < held.length; i++) await certutil(['-D', '-d', spec, '-n', options.nickname])
    await certutil(['-A', '-d', spec, '-n', options.nickname, '-t', 'C,,', '-i', options.caPath])
    action = held.length === 0 ? 'added' : 'replaced'
  }
  return { database, createdDatabase, action, nickname: options.nickname, trust: await trustOf(spec, options.nickname) }
}

/** SHA-256 fingerprints of the certificates a nickname holds (none when it is unknown). */
async function certificatesNamed (spec: string, nickname: string): Promise<string[]> {
  let pem: string
  try {
    pem = await certutil(['-L', '-d', spec, '-n', nickname, '-a'])
  } catch (error) {
    if (error instanceof CertutilFailed && /could not find/i.test(error.stderr)) return []
    throw error
  }
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)]
    .map((match) => new X509Certificate(match[0]).fingerprint256)
}

async function trustOf (spec: string, nickname: string): Promise<string> {
  const listing = await certutil(['-L', '-d', spec])
  for (const line of listing.split('\n')) {
    const match = /^(.*\S)\s+(\S*,\S*,\S*)\s*$/.exec(line)
    if (match?.[1] === nickname) return match[2] ?? ''
  }
  return ''
}

class CertutilFailed extends Error {
  constructor (args: string[], readonly stderr: string) {
    super(`certutil ${args.join(' ')} failed: ${stderr.trim() || 'no output'}`)
  }
}

function certutil (args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('certutil', args, { encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout)
      else if ((error as NodeJS.ErrnoException).code === 'ENOENT') reject(new CertutilMissingError())
      else reject(new CertutilFailed(args, stderr))
    })
    // A database with a password would prompt for it: end stdin so certutil fails instead of waiting.
    child.stdin?.end()
  })
}

async function exists (path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
