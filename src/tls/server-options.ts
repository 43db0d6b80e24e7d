import type { SecureContextOptions, TlsOptions } from 'node:tls'

/**
 * TLS 1.3 suites, then TLS 1.2 suites with ECDHE key exchange and AEAD encryption only. Node's
 * default list still offers CBC and non-forward-secret suites for TLS 1.2, which scanners flag
 * (Mozilla's "intermediate" profile, https://wiki.mozilla.org/Security/Server_Side_TLS).
 */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305'
].join(':')

/** Key exchange groups, in preference order: elliptic curves only (ECDHE), as scanners expect. */
export const TLS_GROUPS = 'X25519:prime256v1:secp384r1'

/** PEM material a server presents. */
export interface ServerCertificate {
  cert: string | Buffer
  key: string | Buffer
}

/**
 * Options for `https.createServer` with the framework's TLS policy: TLS 1.2 minimum, the
 * {@link TLS_CIPHERS} list in server order, and a bounded handshake so a client that connects and
 * says nothing is dropped.
 */
export function secureServerOptions (certificate: ServerCertificate, handshakeTimeoutMs: number): TlsOptions & SecureContextOptions {
  return {
    cert: certificate.cert,
    key: certificate.key,
    minVersion: 'TLSv1.2',
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
    // Key exchange on elliptic curves only: OpenSSL's default also offers finite-field groups (ffdhe*) in TLS 1.3.
    ecdhCurve: TLS_GROUPS,
    handshakeTimeout: handshakeTimeoutMs
  }
}
