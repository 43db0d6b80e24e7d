import { X509Certificate } from 'node:crypto'

/**
 * When the first certificate of a PEM (a server certificate, or a chain whose leaf comes first)
 * stops being valid: its `notAfter`. Throws a `TypeError` when the PEM holds no certificate.
 */
export function certificateNotAfter (pem: string | Buffer): Date {
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(pem)
  } catch (cause) {
    throw new TypeError('observeCertificate() needs a PEM certificate', { cause })
  }
  return new Date(certificate.validTo)
}
