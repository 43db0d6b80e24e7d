import { X509Certificate as NodeX509Certificate, createPrivateKey, webcrypto } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { hostname } from 'node:os'
import { join } from 'node:path'
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair

const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' }
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' }
const DAY_MS = 86_400_000
/** The names the development certificate is always valid for; extra ones come from the `hosts` option or hosts.json. */
export const DEV_CERT_HOSTS = Object.freeze({ dns: ['localhost'], ip: ['127.0.0.1', '::1'] })
/**
 * The file in the certificate folder listing the extra names of the server certificate
 * (`{ "hosts": ["192.168.1.20", "dev.local"] }`): written when {@link ensureDevCertificates} is given
 * `hosts` (`fastify-tether cert --hosts`), read by every later call without it (the reference server).
 */
export const DEV_CERT_HOSTS_FILE = 'hosts.json'
const CA_VALIDITY_MS = 3650 * DAY_MS
// Browsers refuse server certificates valid for more than 398 days, even under a user-added root.
const CERT_VALIDITY_MS = 397 * DAY_MS

/** Where the development CA and server certificate live, and their PEM contents. */
export interface DevCertificates {
  caPath: string
  caKeyPath: string
  certPath: string
  keyPath: string
  /** PEM of the CA certificate: what clients trust (`ca:` in Node, the OS or browser store). */
  ca: string
  /** PEM of the server certificate (leaf only). */
  cert: string
  /** PEM (PKCS #8) of the server key. */
  key: string
  /** True when this call created a new CA (clients must trust it again). */
  createdCa: boolean
  /** True when this call issued a new server certificate. */
  issuedCert: boolean
  /** Every name the server certificate is valid for: localhost, 127.0.0.1, ::1, then the extra hosts. */
  hosts: string[]
  /** Path of the folder's hosts.json (it exists only while there are extra hosts). */
  hostsPath: string
}

/** A subject alternative name of the development server certificate. */
export interface DevCertHost {
  type: 'dns' | 'ip'
  /** Lower-case hostname, or the IP address in its canonical form (IPv6 compressed). */
  value: string
}

/** Options of {@link ensureDevCertificates}. */
export interface DevCertificateOptions {
  /** Folder of ca.pem, ca-key.pem, cert.pem, key.pem; created with mode 0700 when missing. */
  dir: string
  /** The current time (tests move it forward to exercise renewal). */
  now?: Date
  /** A server certificate expiring within this window is renewed. Default 7 days. */
  renewWithinMs?: number
  /**
   * Extra names (hostnames or IP addresses, e.g. a LAN address a phone connects to) the server
   * certificate must be valid for, besides localhost, 127.0.0.1 and ::1. Given, it replaces the list
   * saved in the folder's hosts.json (an empty list removes the file); omitted, the saved list is used.
   * A certificate whose names differ from the list is re-issued under the same CA. Invalid names throw
   * a `TypeError` ({@link parseDevCertHost}).
   */
  hosts?: readonly string[]
}

/**
 * Validates one name for the development server certificate: an IPv4 or IPv6 address (returned in
 * canonical form) or a hostname (letters, digits and hyphens in dot-separated labels of at most 63
 * characters, 253 in all, not ending in an all-digit label; returned in lower case). Throws a
 * `TypeError` saying why otherwise: wildcards, ports, URLs and IPv6 zone ids are refused.
 */
export function parseDevCertHost (input: string): DevCertHost {
  const value = input.trim()
  const quoted = JSON.stringify(input)
  if (value === '') throw new TypeError('an empty host name')
  const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value
  if (isIP(bare) === 4) return { type: 'ip', value: bare }
  if (isIP(bare) === 6) {
    if (bare.includes('%')) throw new TypeError(`${quoted}: an IPv6 zone id (%...) cannot be in a certificate`)
    return { type: 'ip', value: new URL(`http://[${bare}]/`).hostname.slice(1, -1) }
  }
  if (value.includes('://') || value.includes('/')) throw new TypeError(`${quoted} is a URL: give the host name or IP address alone`)
  if (value.includes('*')) throw new TypeError(`${quoted}: wildcards are not supported, list each name`)
  if (/:\d+$/.test(value)) throw new TypeError(`${quoted} has a port: give the host name or IP address alone`)
  const name = value.toLowerCase()
  const labels = name.split('.')
  const last = labels[labels.length - 1] ?? ''
  if (name.length > 253 || !labels.every((label) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) || /^\d+$/.test(last)) {
    throw new TypeError(`${quoted} is neither an IP address nor a valid host name`)
  }
  return { type: 'dns', value: name }
}

/**
 * Makes sure `dir` holds a local development CA (ECDSA P-256, 10 years) and a server certificate it
 * signed for localhost, 127.0.0.1, ::1 and the extra hosts (`hosts`, saved in the folder's
 * hosts.json) (397 days), creating them on first use, reusing them afterwards, and re-issuing the
 * server certificate under the same CA when it expires within `renewWithinMs`, no longer chains to
 * the CA, or its names differ from the wanted ones. Private keys are written with mode 0600.
 */
export async function ensureDevCertificates (options: DevCertificateOptions): Promise<DevCertificates> {
  const now = options.now ?? new Date()
  const renewWithinMs = options.renewWithinMs ?? 7 * DAY_MS
  const paths = {
    caPath: join(options.dir, 'ca.pem'),
    caKeyPath: join(options.dir, 'ca-key.pem'),
    certPath: join(options.dir, 'cert.pem'),
    keyPath: join(options.dir, 'key.pem')
  }
  const hostsPath = join(options.dir, DEV_CERT_HOSTS_FILE)
  // Validate before touching the folder: a bad name changes nothing.
  const extra = options.hosts === undefined ? null : extraHosts(options.hosts.map(parseDevCertHost))
  await mkdir(options.dir, { recursive: true, mode: 0o700 })
  const names = [...baseHosts(), ...(extra ?? await readHostsFile(hostsPath))]
  if (extra !== null) {
    if (extra.length > 0) await writeAtomic(hostsPath, `${JSON.stringify({ hosts: extra.map((host) => host.value) }, null, 2)}\n`, 0o644)
    else await rm(hostsPath, { force: true })
  }

  let ca = await loadCa(paths.caPath, paths.caKeyPath, now, renewWithinMs)
  const createdCa = ca === null
  if (ca === null) {
    ca = await createCa(now)
    await writeAtomic(paths.caKeyPath, ca.keyPem, 0o600)
    await writeAtomic(paths.caPath, ca.certPem, 0o644)
  }

  let leaf = createdCa ? null : await loadLeaf(paths.certPath, paths.keyPath, ca.nodeCert, names, now, renewWithinMs)
  const issuedCert = leaf === null
  if (leaf === null) {
    leaf = await issueServerCertificate(ca, names, now)
    await writeAtomic(paths.keyPath, leaf.keyPem, 0o600)
    await writeAtomic(paths.certPath, leaf.certPem, 0o644)
  }

  return { ...paths, ca: ca.certPem, cert: leaf.certPem, key: leaf.keyPem, createdCa, issuedCert, hosts: names.map((host) => host.value), hostsPath }
}

function baseHosts (): DevCertHost[] {
  return [
    ...DEV_CERT_HOSTS.dns.map((value) => ({ type: 'dns' as const, value })),
    ...DEV_CERT_HOSTS.ip.map((value) => ({ type: 'ip' as const, value }))
  ]
}

/** The extra names without duplicates and without the ones every certificate has. */
function extraHosts (hosts: DevCertHost[]): DevCertHost[] {
  const seen = new Set(baseHosts().map(hostKey))
  return hosts.filter((host) => {
    if (seen.has(hostKey(host))) return false
    seen.add(hostKey(host))
    return true
  })
}

function hostKey (host: DevCertHost): string {
  return `${host.type}:${host.value}`
}

async function readHostsFile (path: string): Promise<DevCertHost[]> {
  const text = await readOptional(path)
  if (text === null) return []
  let hosts: unknown
  try {
    hosts = (JSON.parse(text) as { hosts?: unknown } | null)?.hosts
  } catch (error) {
    throw new Error(`${path} is not JSON (${(error as Error).message}); fix it or run \`fastify-tether cert --hosts ...\` again`)
  }
  if (!Array.isArray(hosts) || !hosts.every((host) => typeof host === 'string')) {
    throw new Error(`${path} must be {"hosts": ["name", ...]}; fix it or run \`fastify-tether cert --hosts ...\` again`)
  }
  try {
    return extraHosts(hosts.map(parseDevCertHost))
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`)
  }
}

interface LoadedCa {
  certPem: string
  keyPem: string
  nodeCert: NodeX509Certificate
  cert: x509.X509Certificate
  privateKey: CryptoKey
}

async function loadCa (certPath: string, keyPath: string, now: Date, renewWithinMs: number): Promise<LoadedCa | null> {
  const [certPem, keyPem] = await Promise.all([readOptional(certPath), readOptional(keyPath)])
  if (certPem === null || keyPem === null) return null
  try {
    const nodeCert = new NodeX509Certificate(certPem)
    if (!nodeCert.ca || !expiresAfter(nodeCert, now, renewWithinMs)) return null
    const privateKey = await importPrivateKey(keyPem)
    return { certPem, keyPem, nodeCert, cert: new x509.X509Certificate(certPem), privateKey }
  } catch {
    return null // unreadable files are replaced, never trusted
  }
}

async function loadLeaf (certPath: string, keyPath: string, ca: NodeX509Certificate, names: DevCertHost[], now: Date, renewWithinMs: number): Promise<{ certPem: string, keyPem: string } | null> {
  const [certPem, keyPem] = await Promise.all([readOptional(certPath), readOptional(keyPath)])
  if (certPem === null || keyPem === null) return null
  try {
    const cert = new NodeX509Certificate(certPem)
    const chained = cert.checkIssued(ca) && cert.verify(ca.publicKey)
    // Exactly the wanted names: a missing one is added, one no longer listed is dropped.
    const named = sameNames(new x509.X509Certificate(certPem), names)
    const matchesKey = cert.checkPrivateKey(createPrivateKey(keyPem))
    if (!chained || !named || !matchesKey || !expiresAfter(cert, now, renewWithinMs)) return null
    return { certPem, keyPem }
  } catch {
    return null
  }
}

async function createCa (now: Date): Promise<LoadedCa> {
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']) as CryptoKeyPair
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=fastify-tether development CA (${hostname()}), O=fastify-tether development`,
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + CA_VALIDITY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
    ]
  })
  const certPem = cert.toString('pem')
  return {
    certPem,
    keyPem: await exportPrivateKey(keys.privateKey),
    nodeCert: new NodeX509Certificate(certPem),
    cert,
    privateKey: keys.privateKey
  }
}

function sameNames (cert: x509.X509Certificate, names: DevCertHost[]): boolean {
  const items = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? []
  const present = new Set(items.map((item) => item.type === 'ip' ? hostKey(parseDevCertHost(item.value)) : `${item.type}:${item.value.toLowerCase()}`))
  return present.size === items.length && present.size === names.length && names.every((host) => present.has(hostKey(host)))
}

async function issueServerCertificate (ca: LoadedCa, names: DevCertHost[], now: Date): Promise<{ certPem: string, keyPem: string }> {
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']) as CryptoKeyPair
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: 'CN=localhost, O=fastify-tether development',
    issuer: ca.cert.subject,
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + CERT_VALIDITY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map(({ type, value }) => ({ type, value }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert)
    ]
  })
  return { certPem: cert.toString('pem'), keyPem: await exportPrivateKey(keys.privateKey) }
}

function expiresAfter (cert: NodeX509Certificate, now: Date, windowMs: number): boolean {
  return new Date(cert.validTo).getTime() - now.getTime() > windowMs &&
    new Date(cert.validFrom).getTime() <= now.getTime()
}

function randomSerial (): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16))
  bytes[0] = (bytes[0] ?? 0) & 0x7f // a positive INTEGER (RFC 5280 section 4.1.2.2)
  return Buffer.from(bytes).toString('hex')
}

async function exportPrivateKey (key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key))
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`
}

async function importPrivateKey (pem: string): Promise<CryptoKey> {
  const body = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, '').replace(/\s+/g, '')
  return await webcrypto.subtle.importKey('pkcs8', Buffer.from(body, 'base64'), EC_KEY, false, ['sign'])
}

async function readOptional (path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}

/** Write-then-rename, so a crash never leaves a half-written key that a later start would trust. */
async function writeAtomic (path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, content, { mode })
  await rename(temporary, path)
}
