import { X509Certificate as NodeX509Certificate, createPrivateKey, webcrypto } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
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
/** The names the development certificate is valid for. */
export const DEV_CERT_HOSTS = Object.freeze({ dns: ['localhost'], ip: ['127.0.0.1', '::1'] })
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
}

/** Options of {@link ensureDevCertificates}. */
export interface DevCertificateOptions {
  /** Folder of ca.pem, ca-key.pem, cert.pem, key.pem; created with mode 0700 when missing. */
  dir: string
  /** The current time (tests move it forward to exercise renewal). */
  now?: Date
  /** A server certificate expiring within this window is renewed. Default 7 days. */
  renewWithinMs?: number
}

/**
 * Makes sure `dir` holds a local development CA (ECDSA P-256, 10 years) and a server certificate it
 * signed for localhost, 127.0.0.1 and ::1 (397 days), creating them on first use, reusing them
 * afterwards, and re-issuing the server certificate when it expires within `renewWithinMs`, no longer
 * chains to the CA, or lacks a required name. Private keys are written with mode 0600.
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
  await mkdir(options.dir, { recursive: true, mode: 0o700 })

  let ca = await loadCa(paths.caPath, paths.caKeyPath, now, renewWithinMs)
  const createdCa = ca === null
  if (ca === null) {
    ca = await createCa(now)
    await writeAtomic(paths.caKeyPath, ca.keyPem, 0o600)
    await writeAtomic(paths.caPath, ca.certPem, 0o644)
  }

  let leaf = createdCa ? null : await loadLeaf(paths.certPath, paths.keyPath, ca.nodeCert, now, renewWithinMs)
  const issuedCert = leaf === null
  if (leaf === null) {
    leaf = await issueServerCertificate(ca, now)
    await writeAtomic(paths.keyPath, leaf.keyPem, 0o600)
    await writeAtomic(paths.certPath, leaf.certPem, 0o644)
  }

  return { ...paths, ca: ca.certPem, cert: leaf.certPem, key: leaf.keyPem, createdCa, issuedCert }
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

async function loadLeaf (certPath: string, keyPath: string, ca: NodeX509Certificate, now: Date, renewWithinMs: number): Promise<{ certPem: string, keyPem: string } | null> {
  const [certPem, keyPem] = await Promise.all([readOptional(certPath), readOptional(keyPath)])
  if (certPem === null || keyPem === null) return null
  try {
    const cert = new NodeX509Certificate(certPem)
    const chained = cert.checkIssued(ca) && cert.verify(ca.publicKey)
    const named = DEV_CERT_HOSTS.dns.every((host) => cert.checkHost(host) !== undefined) &&
      DEV_CERT_HOSTS.ip.every((ip) => cert.checkIP(ip) !== undefined)
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

async function issueServerCertificate (ca: LoadedCa, now: Date): Promise<{ certPem: string, keyPem: string }> {
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
      new x509.SubjectAlternativeNameExtension([
        ...DEV_CERT_HOSTS.dns.map((value) => ({ type: 'dns' as const, value })),
        ...DEV_CERT_HOSTS.ip.map((value) => ({ type: 'ip' as const, value }))
      ]),
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
