/**
 * `fastify-tether cert`: creates or shows the development CA and server certificate in a folder
 * (the reference server's CERT_DIR), adds names to the server certificate (`--hosts`), prints how
 * each client trusts the CA, and adds it to the user's NSS database (`--install`). Never prints a
 * private key.
 * @packageDocumentation
 */
import { X509Certificate } from 'node:crypto'
import { resolve } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { DEV_CERT_HOSTS, ensureDevCertificates, parseDevCertHost, type DevCertificates } from '../tls/dev-certificates.js'
import { installInNss, type NssInstallResult } from './cert/nss.js'
import { DEFAULT_NSS_NICKNAME, trustSteps, type TrustStep } from './cert/trust.js'

const DAY_MS = 86_400_000

/** The options `fastify-tether cert` parses. */
export interface CertCommandOptions {
  dir: string
  /** The extra names; `false` (`--no-hosts`) removes them; absent keeps the saved ones. */
  hosts?: string[] | false
  install?: boolean
  nickname: string
  json?: boolean
}

/** One certificate as `cert` shows it (`--json`: `ca` and `cert`). */
export interface CertificateSummary {
  path: string
  keyPath: string
  subject: string
  /** SHA-256 fingerprint, colon-separated hex (what browsers and `openssl x509 -fingerprint -sha256` show). */
  sha256: string
  notBefore: string
  notAfter: string
}

/** The `--json` output of `fastify-tether cert`. */
export interface CertReport {
  dir: string
  ca: CertificateSummary & { created: boolean }
  cert: CertificateSummary & { issued: boolean, hosts: string[] }
  /** The hosts.json that keeps the extra names, or null when there are none. */
  hostsFile: string | null
  trust: TrustStep[]
  /** With `--install`: what was done, or why it failed. */
  install?: NssInstallResult | { error: string }
}

/** `fastify-tether cert`: exit 0 done, 1 failed (files, certutil), 2 bad usage (a bad `--hosts` name). */
export function certCommand (): Command {
  return new Command('cert')
    .description('Create or show the development CA and server certificate, print how to trust the CA, add it to the NSS store (--install).')
    .option('--dir <dir>', 'folder of ca.pem, ca-key.pem, cert.pem, key.pem (the reference server\'s CERT_DIR)', process.env.CERT_DIR ?? '.certs')
    .option('--hosts <list>', 'extra names for the server certificate, comma-separated host names and IP addresses (e.g. a LAN address 192.168.1.20); replaces the saved list and re-issues the certificate under the same CA', parseHostList)
    .option('--no-hosts', 'remove the extra names (back to localhost, 127.0.0.1, ::1)')
    .option('--install', 'add the CA to your NSS database ($HOME/.pki/nssdb, used by Chromium and Chrome on Linux), creating it if missing')
    .option('--nickname <name>', 'the CA\'s nickname in the NSS database', DEFAULT_NSS_NICKNAME)
    .option('--json', 'machine-readable output')
    .addHelpText('after', `
The server certificate is always valid for ${[...DEV_CERT_HOSTS.dns, ...DEV_CERT_HOSTS.ip].join(', ')}; extra names are
saved in <dir>/hosts.json, so later runs and the reference server keep them. Private keys are
never printed. Exit codes: 0 done, 1 failed, 2 bad usage.

Examples:
  npx fastify-tether cert                           create or show, with the trust steps
  npx fastify-tether cert --hosts 192.168.1.20      also valid for a LAN address (a phone)
  npx fastify-tether cert --install                 trust the CA in Chromium/Chrome (Linux)`)
    .showHelpAfterError()
    // Usage errors of this command (a bad --hosts, an unknown option) exit 2, as the program's do.
    .exitOverride((error) => { process.exit(error.exitCode === 0 ? 0 : 2) })
    .action(async (options: CertCommandOptions) => {
      process.exitCode = await runCert(options)
    })
}

function parseHostList (value: string): string[] {
  const hosts = value.split(',').map((host) => host.trim()).filter((host) => host !== '')
  if (hosts.length === 0) throw new InvalidArgumentError('no host names given (--no-hosts removes the extra names).')
  try {
    return hosts.map((host) => parseDevCertHost(host).value)
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message}.`)
  }
}

/** Runs `fastify-tether cert` with parsed options, writes its output, and returns the exit code. */
export async function runCert (options: CertCommandOptions): Promise<number> {
  const dir = resolve(options.dir)
  let dev: DevCertificates
  try {
    dev = await ensureDevCertificates({
      dir,
      ...(options.hosts === undefined ? {} : { hosts: options.hosts === false ? [] : options.hosts })
    })
  } catch (error) {
    process.stderr.write(`fastify-tether cert: cannot prepare the certificates in ${dir}: ${(error as Error).message}\n`)
    return 1
  }
  const baseCount = DEV_CERT_HOSTS.dns.length + DEV_CERT_HOSTS.ip.length
  const extraHosts = dev.hosts.slice(baseCount)
  const report: CertReport = {
    dir,
    ca: { ...summarize(dev.ca, dev.caPath, dev.caKeyPath), created: dev.createdCa },
    cert: { ...summarize(dev.cert, dev.certPath, dev.keyPath), issued: dev.issuedCert, hosts: dev.hosts },
    hostsFile: extraHosts.length > 0 ? dev.hostsPath : null,
    trust: trustSteps({ caPath: dev.caPath, nickname: options.nickname, port: port(), extraHosts })
  }
  let code = 0
  if (options.install === true) {
    try {
      if (process.platform === 'win32') throw new Error('--install writes an NSS database with NSS\'s certutil, which Windows does not have: use the Windows step below')
      report.install = await installInNss({ caPath: dev.caPath, caPem: dev.ca, nickname: options.nickname })
    } catch (error) {
      report.install = { error: (error as Error).message }
      code = 1
    }
  }
  if (options.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else process.stdout.write(formatReport(report))
  if (report.install !== undefined && 'error' in report.install) {
    process.stderr.write(`fastify-tether cert --install: ${report.install.error}\n`)
  }
  return code
}

function summarize (pem: string, path: string, keyPath: string): CertificateSummary {
  const cert = new X509Certificate(pem)
  return {
    path,
    keyPath,
    subject: cert.subject.split('\n').join(', '),
    sha256: cert.fingerprint256,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString()
  }
}

function port (): number {
  const value = Number(process.env.PORT)
  return Number.isInteger(value) && value > 0 && value < 65536 ? value : 8443
}

/** The human-readable output. */
function formatReport (report: CertReport): string {
  const lines: string[] = [`Development certificates in ${report.dir}`, '']
  const expires = (iso: string): string => `${iso.slice(0, 10)} (in ${Math.floor((Date.parse(iso) - Date.now()) / DAY_MS)} days)`
  lines.push(
    `CA                  ${report.ca.created ? 'created now: every client must trust it (below)' : 'reused'}`,
    `  certificate       ${report.ca.path}`,
    `  private key       ${report.ca.keyPath} (mode 0600; never share or commit it)`,
    `  subject           ${report.ca.subject}`,
    `  SHA-256           ${report.ca.sha256}`,
    `  expires           ${expires(report.ca.notAfter)}`,
    '',
    `Server certificate  ${report.cert.issued ? 'issued now, signed by the CA above' : 'reused'}`,
    `  certificate       ${report.cert.path}`,
    `  private key       ${report.cert.keyPath} (mode 0600)`,
    `  names (SANs)      ${report.cert.hosts.join(', ')}`,
    `  SHA-256           ${report.cert.sha256}`,
    `  expires           ${expires(report.cert.notAfter)}; re-issued under the same CA within 7 days of it`
  )
  if (report.hostsFile !== null) lines.push(`  extra names kept  ${report.hostsFile} (the reference server reads it; --no-hosts removes them)`)
  if (report.install !== undefined) {
    lines.push('')
    if ('error' in report.install) {
      lines.push('NSS install         FAILED (see the error below)')
    } else {
      const done = { added: 'added', replaced: 'replaced an older certificate of that nickname', unchanged: 'already there (trust re-set)' }[report.install.action]
      lines.push(
        `NSS install         ${done}: "${report.install.nickname}", trust ${report.install.trust || '(none listed)'}`,
        `  database          ${report.install.database}${report.install.createdDatabase ? ' (created, empty password)' : ''}`,
        '  restart Chromium/Chrome for it to take effect; Firefox keeps its own store (below)'
      )
    }
  }
  lines.push('', 'Trust the CA (once per client; the server certificate can be re-issued, the CA stays):')
  for (const step of report.trust) {
    lines.push(`  ${step.label}`)
    for (const line of step.steps) lines.push(`    ${line}`)
  }
  return `${lines.join('\n')}\n`
}
