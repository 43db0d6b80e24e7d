import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureDevCertificates, type DevCertificates } from '../tls/dev-certificates.js'

let certificates: Promise<DevCertificates> | undefined

/**
 * A throwaway development CA and a server certificate for localhost, 127.0.0.1 and ::1, made once
 * per test process in a fresh temporary folder. Clients trust `ca`; nothing is ever trusted blindly.
 */
export function testCertificates (): Promise<DevCertificates> {
  certificates ??= ensureDevCertificates({ dir: mkdtempSync(join(tmpdir(), 'tether-test-certs-')) })
  return certificates
}
