import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { access, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { ensureDevCertificates } from 'fastify-tether/dev-certs'
import type { CertReport } from '../../src/cli/cert.js'

const ROOT = join(import.meta.dirname, '..', '..')
const CLI = join(ROOT, 'src', 'cli.ts')

interface Run { code: number, stdout: string, stderr: string }

/** `fastify-tether cert ...` as a child process, with its own HOME (and PATH when given). */
function cert (args: string[], env: Record<string, string>): Promise<Run> {
  const { CERT_DIR: _certDir, PORT: _port, ...inherited } = process.env
  return new Promise((resolve) => {
    execFile(process.execPath, ['--conditions=tether-source', '--import', 'tsx', CLI, 'cert', ...args], {
      cwd: ROOT,
      env: { ...inherited, ...env },
      encoding: 'utf8'
    }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr })
    })
  })
}

async function certJson (t: Test, args: string[], env: Record<string, string>): Promise<CertReport> {
  const run = await cert([...args, '--json'], env)
  t.equal(run.code, 0, `exit 0 (${run.stderr.trim()})`)
  t.notMatch(run.stdout, /PRIVATE KEY/, 'no private key in the output')
  return JSON.parse(run.stdout) as CertReport
}

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}

function certutil (args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('certutil', args, { encoding: 'utf8' }, (error, stdout) => error === null ? resolve(stdout) : reject(error))
  })
}

const hasCertutil = await new Promise<boolean>((resolve) => {
  execFile('certutil', ['-H'], (error) => resolve((error as NodeJS.ErrnoException | null)?.code !== 'ENOENT'))
})

t.test('the first run creates the CA and the server certificate, keys 0600; a second run shows the same ones', async (t) => {
  const home = t.testdir()
  const dir = join(home, 'project', '.certs')
  const first = await certJson(t, ['--dir', dir], { HOME: home })
  t.equal(first.dir, dir)
  t.equal(first.ca.created, true)
  t.equal(first.cert.issued, true)
  t.same(first.cert.hosts, ['localhost', '127.0.0.1', '::1'])
  t.equal(first.hostsFile, null)
  for (const file of ['ca.pem', 'ca-key.pem', 'cert.pem', 'key.pem']) t.ok(await exists(join(dir, file)), file)
  t.equal((await stat(join(dir, 'ca-key.pem'))).mode & 0o777, 0o600, 'CA key 0600')
  t.equal((await stat(join(dir, 'key.pem'))).mode & 0o777, 0o600, 'server key 0600')
  t.equal(first.ca.path, join(dir, 'ca.pem'))
  t.equal(first.ca.sha256, new X509Certificate(await readFile(join(dir, 'ca.pem'))).fingerprint256)
  t.equal(first.cert.sha256, new X509Certificate(await readFile(join(dir, 'cert.pem'))).fingerprint256)
  t.match(first.ca.sha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
  t.ok(Date.parse(first.cert.notAfter) > Date.now() + 390 * 86_400_000, 'the expiry is shown')

  const second = await certJson(t, ['--dir', dir], { HOME: home })
  t.equal(second.ca.created, false)
  t.equal(second.cert.issued, false)
  t.equal(second.ca.sha256, first.ca.sha256, 'same CA')
  t.equal(second.cert.sha256, first.cert.sha256, 'same server certificate')
})

t.test('--hosts re-issues the server certificate under the same CA; later runs and the server keep the names', async (t) => {
  const home = t.testdir()
  const dir = join(home, '.certs')
  const first = await certJson(t, ['--dir', dir], { HOME: home })
  const withHosts = await certJson(t, ['--dir', dir, '--hosts', '192.168.1.20,dev.local'], { HOME: home })
  t.equal(withHosts.ca.sha256, first.ca.sha256, 'the same CA')
  t.equal(withHosts.ca.created, false)
  t.equal(withHosts.cert.issued, true)
  t.not(withHosts.cert.sha256, first.cert.sha256)
  t.same(withHosts.cert.hosts, ['localhost', '127.0.0.1', '::1', '192.168.1.20', 'dev.local'])
  t.equal(withHosts.hostsFile, join(dir, 'hosts.json'))
  const leaf = new X509Certificate(await readFile(join(dir, 'cert.pem')))
  t.equal(leaf.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:192.168.1.20, DNS:dev.local')
  t.equal(leaf.checkIssued(new X509Certificate(await readFile(join(dir, 'ca.pem')))), true, 'signed by the CA')
  t.same(JSON.parse(await readFile(join(dir, 'hosts.json'), 'utf8')), { hosts: ['192.168.1.20', 'dev.local'] })

  const plain = await certJson(t, ['--dir', dir], { HOME: home })
  t.equal(plain.cert.issued, false, 'a plain run keeps the certificate')
  t.equal(plain.cert.sha256, withHosts.cert.sha256)
  t.same(plain.cert.hosts, withHosts.cert.hosts)
  const server = await ensureDevCertificates({ dir })
  t.equal(server.issuedCert, false, 'what the reference server calls does not re-issue without the names')
  t.equal(new X509Certificate(server.cert).checkIP('192.168.1.20'), '192.168.1.20')

  const text = await cert(['--dir', dir], { HOME: home })
  t.match(text.stdout, 'localhost, 127.0.0.1, ::1, 192.168.1.20, dev.local')
  t.match(text.stdout, 'https://192.168.1.20:8443', 'how a device on the LAN connects')

  const removed = await certJson(t, ['--dir', dir, '--no-hosts'], { HOME: home })
  t.equal(removed.cert.issued, true)
  t.equal(removed.ca.sha256, first.ca.sha256)
  t.same(removed.cert.hosts, ['localhost', '127.0.0.1', '::1'])
  t.equal(await exists(join(dir, 'hosts.json')), false, '--no-hosts removes hosts.json')
})

t.test('a bad --hosts name is a usage error (exit 2) that changes nothing', async (t) => {
  const home = t.testdir()
  const dir = join(home, '.certs')
  for (const [hosts, message] of [
    ['192.168.1.300', /"192\.168\.1\.300" is neither an IP address nor a valid host name/],
    ['dev.local,bad_name', /"bad_name" is neither/],
    ['https://dev.local', /is a URL/],
    ['dev.local:8443', /has a port/],
    ['*.dev.local', /wildcards are not supported/],
    [',', /no host names given/]
  ] as const) {
    const run = await cert(['--dir', dir, '--hosts', hosts], { HOME: home })
    t.equal(run.code, 2, `${hosts}: exit 2`)
    t.match(run.stderr, message, `${hosts}: says why`)
    t.equal(run.stdout, '')
  }
  t.equal(await exists(dir), false, 'no folder was made')
})

t.test('the printed trust steps use the real CA path and never print a key', async (t) => {
  const home = t.testdir()
  const dir = join(home, '.certs')
  const run = await cert(['--dir', dir], { HOME: home })
  t.equal(run.code, 0)
  const ca = join(dir, 'ca.pem')
  t.match(run.stdout, `NODE_EXTRA_CA_CERTS=${ca} node`)
  t.match(run.stdout, `curl --cacert ${ca} https://localhost:8443/health`)
  t.match(run.stdout, `ssl.create_default_context(cafile="${ca}")`)
  t.match(run.stdout, `certutil -A -d "sql:$HOME/.pki/nssdb" -t "C,," -n fastify-tether-dev -i ${ca}`)
  t.match(run.stdout, 'certutil -N -d "sql:$HOME/.pki/nssdb" --empty-password')
  t.match(run.stdout, `security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${ca}`)
  t.match(run.stdout, `certutil -addstore -f ROOT ${ca}`)
  t.match(run.stdout, `sudo cp ${ca} /usr/local/share/ca-certificates/fastify-tether-dev.crt && sudo update-ca-certificates`)
  t.match(run.stdout, 'Firefox')
  t.match(run.stdout, new X509Certificate(await readFile(ca)).fingerprint256)
  t.notMatch(run.stdout, /PRIVATE KEY|BEGIN/)
})

t.test('--install creates the NSS database in a fresh HOME and trusts the CA as C,,; twice is fine', { skip: hasCertutil ? false : 'certutil (libnss3-tools) is not installed' }, async (t) => {
  const home = t.testdir()
  const dir = join(home, '.certs')
  const nssdb = join(home, '.pki', 'nssdb')
  const first = await certJson(t, ['--dir', dir, '--install'], { HOME: home })
  t.match(first.install, { database: nssdb, createdDatabase: true, action: 'added', nickname: 'fastify-tether-dev', trust: 'C,,' })
  t.ok(await exists(join(nssdb, 'cert9.db')), 'the database was created')
  const listing = await certutil(['-L', '-d', `sql:${nssdb}`])
  t.match(listing, /^fastify-tether-dev\s+C,,\s*$/m, 'certutil lists the CA with trust C,,')
  const held = await certutil(['-L', '-d', `sql:${nssdb}`, '-n', 'fastify-tether-dev', '-a'])
  t.equal(new X509Certificate(held).fingerprint256, first.ca.sha256, 'the CA itself')

  const second = await certJson(t, ['--dir', dir, '--install'], { HOME: home })
  t.match(second.install, { createdDatabase: false, action: 'unchanged', trust: 'C,,' })
  const again = await certutil(['-L', '-d', `sql:${nssdb}`])
  t.equal(again.match(/^fastify-tether-dev\s/gm)?.length, 1, 'still one entry')

  const human = await cert(['--dir', dir, '--install'], { HOME: home })
  t.equal(human.code, 0)
  t.match(human.stdout, /NSS install\s+already there/)

  // A new CA (the folder deleted) replaces the old one under the same nickname.
  await rm(dir, { recursive: true })
  const renewed = await certJson(t, ['--dir', dir, '--install'], { HOME: home })
  t.equal(renewed.ca.created, true)
  t.match(renewed.install, { action: 'replaced', trust: 'C,,' })
  const replaced = await certutil(['-L', '-d', `sql:${nssdb}`, '-n', 'fastify-tether-dev', '-a'])
  t.equal(new X509Certificate(replaced).fingerprint256, renewed.ca.sha256)
  t.equal(replaced.match(/BEGIN CERTIFICATE/g)?.length, 1, 'only the new CA')
})

t.test('--install without certutil exits 1 and names the package to install', async (t) => {
  const home = t.testdir({ bin: {} })
  const run = await cert(['--dir', join(home, '.certs'), '--install'], { HOME: home, PATH: join(home, 'bin') })
  t.equal(run.code, 1)
  t.match(run.stderr, /certutil \(NSS tools\) is not installed/)
  t.match(run.stderr, 'apt-get install libnss3-tools')
  t.match(run.stderr, 'brew install nss')
  t.match(run.stdout, 'ca.pem', 'the certificates are still shown')
})

t.test('cert --help describes the options', async (t) => {
  const run = await cert(['--help'], { HOME: t.testdir() })
  t.equal(run.code, 0)
  for (const option of ['--dir', '--hosts', '--no-hosts', '--install', '--nickname', '--json']) t.match(run.stdout, option)
})
