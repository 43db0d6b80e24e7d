import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto'
import { watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls'
import type { FastifyBaseLogger } from 'fastify'
import { secureServerOptions, type ServerCertificate } from './server-options.js'

const DAY_MS = 86_400_000
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** What a validated certificate is, as logged when it is loaded and as {@link CertificateWatcher.current}. */
export interface CertificateInfo {
  /** The leaf's serial number, upper-case hex (as `tls.TLSSocket#getPeerCertificate().serialNumber`). */
  serialNumber: string
  subject: string
  issuer: string
  /** The leaf's subjectAltName, as Node formats it (`DNS:localhost, IP Address:127.0.0.1`). */
  subjectAltName: string | undefined
  validFrom: string
  validTo: string
  /** SHA-256 fingerprint of the leaf. */
  fingerprint256: string
  /** Certificates in the PEM bundle: the leaf, then intermediates. */
  chainLength: number
}

/** A certificate pair that cannot be served, with a message saying what is wrong with it. */
export class CertificateRejectedError extends Error {
  override readonly name = 'CertificateRejectedError'
}

/**
 * Checks a PEM certificate bundle (the leaf first, then its intermediates) and its private key
 * before they are served, with node:crypto only: every certificate parses, each one is issued and
 * signed by the next, the key parses and matches the leaf, and the leaf is valid at `now` (not
 * expired, not yet to come). Throws a {@link CertificateRejectedError} naming the first problem.
 */
export function validateCertificatePair (certificate: ServerCertificate, now: Date = new Date()): CertificateInfo {
  const text = Buffer.isBuffer(certificate.cert) ? certificate.cert.toString('utf8') : certificate.cert
  const blocks = text.match(PEM_CERTIFICATE) ?? []
  if (blocks.length === 0) throw new CertificateRejectedError('the certificate file holds no PEM certificate (-----BEGIN CERTIFICATE-----)')
  const chain = blocks.map((block, index) => {
    try {
      return new X509Certificate(block)
    } catch (error) {
      throw new CertificateRejectedError(`certificate ${index + 1} of ${blocks.length} in the bundle does not parse: ${(error as Error).message}`)
    }
  })
  const leaf = chain[0] as X509Certificate
  let key: KeyObject
  try {
    key = createPrivateKey(certificate.key)
  } catch (error) {
    throw new CertificateRejectedError(`the private key does not parse: ${(error as Error).message}`)
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new CertificateRejectedError(`the private key does not match the certificate (serial ${leaf.serialNumber}, ${leaf.subject.replace(/\n/g, ', ')})`)
  }
  const from = new Date(leaf.validFrom)
  const to = new Date(leaf.validTo)
  if (now.getTime() < from.getTime()) throw new CertificateRejectedError(`the certificate is not valid yet: valid from ${from.toISOString()}`)
  if (now.getTime() > to.getTime()) throw new CertificateRejectedError(`the certificate expired on ${to.toISOString()}`)
  for (let index = 0; index + 1 < chain.length; index++) {
    const child = chain[index] as X509Certificate
    const parent = chain[index + 1] as X509Certificate
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw new CertificateRejectedError(`certificate ${index + 1} of the bundle is not issued by certificate ${index + 2}: the bundle must be the leaf, then each intermediate in order`)
    }
  }
  return {
    serialNumber: leaf.serialNumber.toUpperCase(),
    subject: leaf.subject.replace(/\n/g, ', '),
    issuer: leaf.issuer.replace(/\n/g, ', '),
    subjectAltName: leaf.subjectAltName,
    validFrom: from.toISOString(),
    validTo: to.toISOString(),
    fingerprint256: leaf.fingerprint256,
    chainLength: chain.length
  }
}

/** What started a reload: a signal, a file change, the periodic check, or a caller's own name. */
export type ReloadTrigger = 'watch' | 'interval' | 'manual' | (string & {})

/** The outcome of one {@link CertificateWatcher.reload}; a reload never throws. */
export interface CertificateReloadResult {
  /** `reloaded`: new handshakes present the new pair; `unchanged`: same files, nothing done; `refused`: the old pair keeps serving. */
  status: 'reloaded' | 'unchanged' | 'refused'
  trigger: ReloadTrigger
  /** The certificate now served (the old one when refused). */
  certificate: CertificateInfo | undefined
  /** What was wrong, when refused. */
  error?: string
  /** From the first read to the swap, in milliseconds. */
  durationMs: number
}

/** Options of {@link watchCertificate}. */
export interface WatchCertificateOptions {
  /** PEM file of the certificate: the leaf, then intermediates. */
  certPath: string
  /** PEM file of its private key (unencrypted). */
  keyPath: string
  log: FastifyBaseLogger
  /**
   * The TLS options a new pair is served with. Default: the framework's policy,
   * `secureServerOptions` (TLS 1.2 minimum, `TLS_CIPHERS`, server cipher order). `setSecureContext`
   * replaces the whole context, so a server created with other options must pass them here.
   */
  policy?: (certificate: ServerCertificate) => SecureContextOptions
  /** Watch the files' folders and reload when they change. Default true. */
  watch?: boolean
  /** Quiet time after the last file event before reloading, so a cert and key written one after the other load together. Default 250. */
  debounceMs?: number
  /** Also reload this often (0: never), which also catches file events a mount never delivers. Default 0. */
  intervalMs?: number
  /** Runs before every reload reads the files, e.g. to re-issue a development certificate that nears expiry. Its failure refuses the reload. */
  refresh?: (trigger: ReloadTrigger) => Promise<void>
  /** A certificate expiring within this is loaded with a warning. Default 14 days. */
  warnWithinMs?: number
  /** Told about every pair swapped in (e.g. to update a certificate-expiry metric). */
  onLoad?: (certificate: ServerCertificate & { info: CertificateInfo }) => void
  /** The clock (tests). */
  now?: () => Date
}

/** The handle of {@link watchCertificate}. */
export interface CertificateWatcher {
  /**
   * Reads, validates and swaps in the pair now. Reloads never overlap: a reload asked for while one
   * runs starts after it. Resolves with the outcome; never rejects.
   */
  reload: (trigger?: ReloadTrigger) => Promise<CertificateReloadResult>
  /** The certificate being served, as last loaded by this watcher (undefined before the first load). */
  readonly current: CertificateInfo | undefined
  /** Reloads by outcome. */
  readonly stats: Readonly<{ reloaded: number, unchanged: number, refused: number }>
  /** Stops watching (files and timer). Idempotent. */
  close: () => void
}

/**
 * Keeps a running TLS server's certificate current without a restart. On a file change (the
 * folders of `certPath` and `keyPath` are watched, since editors, ACME clients and Kubernetes
 * replace files by rename), on the optional timer and on `reload()` (a SIGHUP handler), it reads
 * both files, validates the pair ({@link validateCertificatePair}) and swaps it in with
 * `server.setSecureContext()` under the same TLS policy. Open connections keep the context they
 * were made with; new handshakes present the new certificate. A pair that fails validation is
 * refused with one error log line saying why, and the previous one keeps serving. The files are
 * read and served at once, so the watcher knows what is served. `server` is the
 * `tls.Server` or `https.Server` (a Fastify app's `app.server` when it was created with `https`).
 */
export function watchCertificate (server: Pick<TlsServer, 'setSecureContext'>, options: WatchCertificateOptions): CertificateWatcher {
  const certPath = resolve(options.certPath)
  const keyPath = resolve(options.keyPath)
  const { log } = options
  const policy = options.policy ?? ((certificate: ServerCertificate) => {
    const { handshakeTimeout: _unused, ...context } = secureServerOptions(certificate, 0)
    return context
  })
  const now = options.now ?? (() => new Date())
  const warnWithinMs = options.warnWithinMs ?? 14 * DAY_MS
  const stats = { reloaded: 0, unchanged: 0, refused: 0 }
  let current: CertificateInfo | undefined
  let loaded: { cert: string, key: string } | undefined
  let queue: Promise<unknown> = Promise.resolve()
  let closed = false

  const once = async (trigger: ReloadTrigger): Promise<CertificateReloadResult> => {
    const started = performance.now()
    const elapsed = (): number => Math.round((performance.now() - started) * 100) / 100
    try {
      await options.refresh?.(trigger)
      const [cert, key] = await Promise.all([readPem(certPath, 'certificate'), readPem(keyPath, 'private key')])
      if (loaded !== undefined && loaded.cert === cert && loaded.key === key) {
        stats.unchanged++
        const durationMs = elapsed()
        // Asked for (SIGHUP, a caller): say so at info; found by the watch or the timer: debug.
        const level = trigger === 'watch' || trigger === 'interval' || trigger === 'start' ? 'debug' : 'info'
        log[level]({ trigger, serialNumber: current?.serialNumber, durationMs }, 'certificate unchanged')
        return { status: 'unchanged', trigger, certificate: current, durationMs }
      }
      const info = validateCertificatePair({ cert, key }, now())
      let context: SecureContextOptions
      try {
        context = policy({ cert, key })
        createSecureContext(context) // what setSecureContext would build: fails here, before anything changes
      } catch (error) {
        throw new CertificateRejectedError(`TLS refuses the pair: ${(error as Error).message}`)
      }
      server.setSecureContext(context)
      loaded = { cert, key }
      current = info
      stats.reloaded++
      const durationMs = elapsed()
      log.info({ trigger, ...info, durationMs }, 'certificate loaded; new TLS handshakes present it')
      options.onLoad?.({ cert, key, info })
      if (new Date(info.validTo).getTime() - now().getTime() < warnWithinMs) {
        log.warn({ serialNumber: info.serialNumber, validTo: info.validTo }, 'the certificate expires soon; renew it')
      }
      return { status: 'reloaded', trigger, certificate: info, durationMs }
    } catch (error) {
      stats.refused++
      const durationMs = elapsed()
      const message = (error as Error).message
      log.error({ trigger, err: { message }, certPath, keyPath, servingSerialNumber: current?.serialNumber, durationMs }, 'certificate reload refused; the previous certificate keeps serving')
      return { status: 'refused', trigger, certificate: current, error: message, durationMs }
    }
  }

  const reload = (trigger: ReloadTrigger = 'manual'): Promise<CertificateReloadResult> => {
    const next = queue.then(async () => await once(trigger))
    queue = next.catch(() => {})
    return next
  }

  // The first load records what is served; the server was created with a pair already, and it is
  // swapped for the files' only if they differ (which is also what a restart would do).
  reload('start').catch(() => {})

  const watchers: FSWatcher[] = []
  let debounce: NodeJS.Timeout | undefined
  if (options.watch ?? true) {
    const debounceMs = options.debounceMs ?? 250
    const names = new Set([basename(certPath), basename(keyPath)])
    for (const folder of new Set([dirname(certPath), dirname(keyPath)])) {
      try {
        const watcher = watch(folder, { persistent: false }, (_event, filename) => {
          // Kubernetes swaps a `..data` symlink rather than the files: any change in the folder
          // counts unless the platform names a file that is clearly another one. An unchanged
          // pair costs two reads.
          if (filename !== null && !names.has(String(filename)) && !String(filename).startsWith('..')) return
          clearTimeout(debounce)
          debounce = setTimeout(() => { if (!closed) reload('watch').catch(() => {}) }, debounceMs)
          debounce.unref()
        })
        watcher.on('error', (error: Error) => log.warn({ err: { message: error.message }, folder }, 'certificate watch failed; reload with SIGHUP'))
        watchers.push(watcher)
      } catch (error) {
        log.warn({ err: { message: (error as Error).message }, folder }, 'cannot watch the certificate folder; reload with SIGHUP')
      }
    }
  }
  const interval = (options.intervalMs ?? 0) > 0 ? setInterval(() => { reload('interval').catch(() => {}) }, options.intervalMs) : undefined
  interval?.unref()

  return {
    reload,
    get current () { return current },
    get stats () { return { ...stats } },
    close () {
      closed = true
      clearTimeout(debounce)
      clearInterval(interval)
      for (const watcher of watchers.splice(0)) watcher.close()
    }
  }
}

async function readPem (path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    throw new CertificateRejectedError(`cannot read the ${what} at ${path}: ${(error as Error).message}`)
  }
}
