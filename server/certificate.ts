import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Server as TlsServer } from 'node:tls'
import type { FastifyBaseLogger } from 'fastify'
import { ConfigError, watchCertificate, type CertificateWatcher, type ServerCertificate } from 'fastify-tether'
import { ensureDevCertificates } from 'fastify-tether/dev-certs'
import type { AppConfig } from './config.js'

/** The certificate a server presents, and the CA clients should trust when it is a dev certificate. */
export interface LoadedCertificate extends ServerCertificate {
  /** Path of the development CA, when the certificate is a generated development one. */
  devCaPath: string | undefined
  /** PEM of the development CA, when the certificate is a generated development one. */
  devCa: string | undefined
  /** The files the pair was read from (TLS_CERT/TLS_KEY, or the development pair in CERT_DIR): what a reload reads. */
  certPath: string
  keyPath: string
}

/**
 * TLS_CERT/TLS_KEY when set; otherwise (never in production, which `loadConfig` refuses) the local
 * development CA and server certificate in CERT_DIR, created on first start.
 */
export async function loadCertificate (config: AppConfig, log: FastifyBaseLogger): Promise<LoadedCertificate> {
  if (config.tlsCertPath !== undefined && config.tlsKeyPath !== undefined) {
    const [cert, key] = await Promise.all([
      readPem(config.tlsCertPath, 'TLS_CERT'),
      readPem(config.tlsKeyPath, 'TLS_KEY')
    ])
    return { cert, key, devCaPath: undefined, devCa: undefined, certPath: resolve(config.tlsCertPath), keyPath: resolve(config.tlsKeyPath) }
  }
  const dev = await ensureDevCertificates({ dir: resolve(config.certDir) })
  if (dev.createdCa) {
    log.warn({ caPath: dev.caPath }, 'created a local development CA; trust it once (see README "Trust the dev CA")')
  } else if (dev.issuedCert) {
    log.info({ certPath: dev.certPath }, 'issued a new development server certificate')
  }
  // The trust commands are in the start banner (server/main.ts), once.
  log.info({ caPath: dev.caPath }, `serving a development certificate for ${dev.hosts.join(', ')}`)
  return { cert: dev.cert, key: dev.key, devCaPath: dev.caPath, devCa: dev.ca, certPath: dev.certPath, keyPath: dev.keyPath }
}

async function readPem (path: string, variable: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    throw new ConfigError(`${variable} points to ${path}, which cannot be read: ${(error as Error).message}`)
  }
}

/** How often the served certificate is checked again: a development leaf nearing expiry is re-issued, a missed file event is caught. */
export const CERTIFICATE_CHECK_MS = 86_400_000

/** Test overrides of {@link watchServerCertificate}. */
export interface CertificateReloadOverrides {
  /** Re-issue the development leaf when it expires within this (default: ensureDevCertificates' 7 days). */
  renewWithinMs?: number
  intervalMs?: number
  debounceMs?: number
  /** Told about every certificate swapped in. */
  onLoad?: (certificate: { cert: string | Buffer }) => void
}

/**
 * Keeps the server's certificate current without a restart (`watchCertificate`): TLS_CERT/TLS_KEY
 * are reloaded when they change on disk (unless TLS_WATCH=off), on `reload('SIGHUP')` and daily;
 * a development certificate is also re-issued under the same CA when it nears expiry, on the same
 * triggers. A pair that fails validation is refused with an error log and the old one keeps serving.
 */
export function watchServerCertificate (server: object, config: AppConfig, certificate: LoadedCertificate, log: FastifyBaseLogger, overrides: CertificateReloadOverrides = {}): CertificateWatcher {
  if (!('setSecureContext' in server)) throw new TypeError('watchServerCertificate needs the HTTPS server (TLS=off has no certificate)')
  const dev = certificate.devCaPath !== undefined
  return watchCertificate(server as TlsServer, {
    certPath: certificate.certPath,
    keyPath: certificate.keyPath,
    log,
    watch: config.tlsWatch,
    ...(overrides.onLoad === undefined ? {} : { onLoad: overrides.onLoad }),
    intervalMs: overrides.intervalMs ?? CERTIFICATE_CHECK_MS,
    ...(overrides.debounceMs === undefined ? {} : { debounceMs: overrides.debounceMs }),
    ...(dev
      ? {
          refresh: async () => {
            const renewed = await ensureDevCertificates({ dir: resolve(config.certDir), ...(overrides.renewWithinMs === undefined ? {} : { renewWithinMs: overrides.renewWithinMs }) })
            if (renewed.createdCa) log.warn({ caPath: renewed.caPath }, 'the development CA expired and was made again; clients must trust the new one (README "Trust the dev CA")')
            else if (renewed.issuedCert) log.info({ certPath: renewed.certPath }, 'issued a new development server certificate')
          }
        }
      : {})
  })
}
