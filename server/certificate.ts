import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { ConfigError, type ServerCertificate } from 'fastify-tether'
import { ensureDevCertificates } from 'fastify-tether/dev-certs'
import type { AppConfig } from './config.js'

/** The certificate a server presents, and the CA clients should trust when it is a dev certificate. */
export interface LoadedCertificate extends ServerCertificate {
  /** Path of the development CA, when the certificate is a generated development one. */
  devCaPath: string | undefined
  /** PEM of the development CA, when the certificate is a generated development one. */
  devCa: string | undefined
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
    return { cert, key, devCaPath: undefined, devCa: undefined }
  }
  const dev = await ensureDevCertificates({ dir: resolve(config.certDir) })
  if (dev.createdCa) {
    log.warn({ caPath: dev.caPath }, 'created a local development CA; trust it once (see README "Trust the dev CA")')
  } else if (dev.issuedCert) {
    log.info({ certPath: dev.certPath }, 'issued a new development server certificate')
  }
  log.info({
    caPath: dev.caPath,
    node: `NODE_EXTRA_CA_CERTS=${dev.caPath}`,
    browser: `import ${dev.caPath} as a trusted certificate authority (README: "Trust the dev CA")`
  }, 'serving a development certificate for localhost, 127.0.0.1 and ::1')
  return { cert: dev.cert, key: dev.key, devCaPath: dev.caPath, devCa: dev.ca }
}

async function readPem (path: string, variable: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    throw new ConfigError(`${variable} points to ${path}, which cannot be read: ${(error as Error).message}`)
  }
}
