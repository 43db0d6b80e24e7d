import { X509Certificate } from 'node:crypto'
import { isIP, connect as netConnect } from 'node:net'
import { checkServerIdentity, connect as tlsConnect, type DetailedPeerCertificate, type PeerCertificate } from 'node:tls'
import type { Explanation } from './explain.js'

/** Where the doctor connects: the address that answered TCP, the name it asked for, and the CA it trusts. */
export interface TlsTarget {
  /** The URL's host name (what the certificate must name). */
  host: string
  /** The address the TCP step reached. */
  address: string
  port: number
  /** PEM of the CAs given with --ca, and the file they came from; otherwise Node's trust store. */
  ca?: { path: string, pem: string } | undefined
  timeoutMs: number
}

/** What one TLS handshake showed. */
export interface Handshake {
  protocol: string
  cipher: string
  /** Whether the chain verified against the trusted CAs (the host name is checked separately). */
  authorized: boolean
  /** OpenSSL's verification error code, when not authorized. */
  authorizationError: string | undefined
  /** The leaf's peer-certificate view (what `checkServerIdentity` reads). */
  peer: PeerCertificate
  /** The chain as seen: the leaf first, then its issuers. */
  chain: X509Certificate[]
}

/** A handshake that did not complete: Node's error code and message, or a timeout. */
export interface HandshakeFailure {
  code: string
  message: string
}

/**
 * One TLS handshake that completes whatever the certificate, so the doctor can read the chain the
 * server sends and say which CA would make it trusted. This is the only place `rejectUnauthorized`
 * is false: no application data is ever sent on this socket, it is closed right after the
 * handshake, and the verdict (authorized, authorizationError) is still OpenSSL's. The WebSocket
 * step connects again with full verification.
 */
export async function handshake (target: TlsTarget, legacy = false): Promise<Handshake | HandshakeFailure> {
  return await new Promise((resolve) => {
    const socket = tlsConnect({
      host: target.address,
      port: target.port,
      ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
      ...(target.ca === undefined ? {} : { ca: target.ca.pem }),
      ALPNProtocols: ['http/1.1'],
      rejectUnauthorized: false, // read-only diagnosis, see above
      checkServerIdentity: () => undefined, // the name is checked by the doctor, as its own step
      // Only to learn what an old server offers, to explain it; never what a client should do.
      ...(legacy ? { minVersion: 'TLSv1' as const, ciphers: 'DEFAULT@SECLEVEL=0' } : {})
    })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ code: 'ETIMEDOUT', message: `no TLS handshake within ${target.timeoutMs} ms` })
    }, target.timeoutMs)
    socket.once('secureConnect', () => {
      clearTimeout(timer)
      const peer = socket.getPeerCertificate(true)
      const result: Handshake = {
        protocol: socket.getProtocol() ?? 'unknown',
        cipher: socket.getCipher().standardName ?? socket.getCipher().name,
        authorized: socket.authorized,
        authorizationError: socket.authorized || socket.authorizationError == null ? undefined : String(socket.authorizationError),
        peer,
        chain: chainOf(peer)
      }
      socket.destroy()
      resolve(result)
    })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ code: error.code ?? 'ERR_TLS', message: firstLine(error.message) })
    })
  })
}

function chainOf (leaf: DetailedPeerCertificate): X509Certificate[] {
  const chain: X509Certificate[] = []
  const seen = new Set<string>()
  let current: DetailedPeerCertificate | undefined = leaf
  while (current?.raw !== undefined && !seen.has(current.fingerprint256)) {
    seen.add(current.fingerprint256)
    chain.push(new X509Certificate(current.raw))
    current = current.issuerCertificate
  }
  return chain
}

function firstLine (message: string): string {
  return (message.split('\n')[0] ?? message).replace(/^[0-9A-F]+:error:[0-9A-F]+:SSL routines:/, '').replace(/:\.\.\/deps\/openssl.*$/, '')
}

/**
 * Whether the port answers a plain HTTP request with an HTTP response (a ClientHello sent to it
 * failed): the mistake of using wss:// on a plain-HTTP port.
 */
export async function speaksPlainHttp (target: TlsTarget): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = netConnect({ host: target.address, port: target.port })
    let received = ''
    const done = (answer: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(answer)
    }
    const timer = setTimeout(() => done(false), target.timeoutMs)
    socket.setEncoding('latin1')
    socket.once('connect', () => socket.write(`HEAD / HTTP/1.1\r\nHost: ${target.host}\r\nConnection: close\r\n\r\n`))
    socket.on('data', (data: string) => {
      received += data
      if (received.length >= 5) done(received.startsWith('HTTP/'))
    })
    socket.once('error', () => done(false))
    socket.once('close', () => done(received.startsWith('HTTP/')))
  })
}

/** Explains a handshake that failed, after looking at what the port speaks. */
export async function explainHandshakeFailure (target: TlsTarget, failure: HandshakeFailure): Promise<Explanation> {
  const hostPort = `${target.host}:${target.port}`
  if (failure.code === 'ETIMEDOUT') {
    return {
      detail: `the port accepted TCP but no TLS handshake completed within ${target.timeoutMs} ms`,
      fix: `check that ${hostPort} is the server's TLS port (it may be another protocol that waits for the client), and that nothing in between holds the connection`
    }
  }
  if (await speaksPlainHttp(target)) {
    return {
      detail: `the TLS handshake failed (${failure.message}) and the port answers plain HTTP`,
      fix: `this port speaks plain HTTP: use ws://${hostPort} (plain, for loopback or behind a TLS proxy only) or the server's TLS port with wss://`
    }
  }
  const old = await handshake(target, true)
  if ('protocol' in old) {
    if (old.protocol === 'TLSv1' || old.protocol === 'TLSv1.1' || old.protocol === 'SSLv3') {
      return {
        detail: `the server offers only ${old.protocol} (it negotiated ${old.cipher} with a legacy probe); this client requires TLS 1.2 or later`,
        fix: `${old.protocol} is deprecated (RFC 8996) and refused by Node, browsers and curl: configure the server for TLS 1.2 and 1.3 (Node: minVersion 'TLSv1.2', which fastify-tether's secureServerOptions sets)`
      }
    }
    return {
      detail: `the server offers no cipher this client accepts: it negotiated ${old.protocol} ${old.cipher} only with a legacy probe`,
      fix: 'configure the server with current AEAD ciphers (ECDHE with AES-GCM or ChaCha20-Poly1305; fastify-tether\'s TLS_CIPHERS)'
    }
  }
  if (failure.code === 'ECONNRESET') {
    return {
      detail: `the server closed the connection during the TLS handshake (${failure.message})`,
      fix: `check that ${hostPort} is a TLS port and that the server's certificate and key load (its log says why it drops handshakes)`
    }
  }
  return {
    detail: `the server offers no TLS version this client accepts (handshake error: ${failure.code}: ${failure.message})`,
    fix: 'configure the server for TLS 1.2 or 1.3 with a certificate and current ciphers (fastify-tether\'s secureServerOptions); the client side accepts TLS 1.2 and later only'
  }
}

/** The certificate's names, as listed in its subjectAltName (`DNS:localhost, IP Address:127.0.0.1`). */
export function subjectAltNames (certificate: X509Certificate): string[] {
  return (certificate.subjectAltName ?? '').split(',').map((name) => name.trim().replace(/^IP Address:/, 'IP:')).filter((name) => name !== '').map(shortIpv6)
}

/** `IP:0:0:0:0:0:0:0:1` (as OpenSSL prints it) becomes `IP:::1`. */
function shortIpv6 (name: string): string {
  if (!name.startsWith('IP:') || !name.includes(':', 3)) return name
  try {
    return `IP:${new URL(`http://[${name.slice(3)}]/`).hostname.slice(1, -1)}`
  } catch {
    return name
  }
}

/** A subject (or issuer) on one line: `CN=..., O=...`. */
export function oneLine (name: string): string {
  return name.split('\n').filter((part) => part !== '').join(', ')
}

/** The common name of a distinguished name, or the whole name. */
export function commonName (name: string): string {
  const cn = name.split('\n').find((part) => part.startsWith('CN='))
  return cn === undefined ? oneLine(name) : cn.slice(3)
}

/** Whether the certificate names `host` (tls.checkServerIdentity's rules: wildcards, IP SANs). */
export function namesHost (host: string, peer: PeerCertificate): Error | undefined {
  return checkServerIdentity(host, peer)
}

/** Whether a certificate signed itself. */
export function selfSigned (certificate: X509Certificate): boolean {
  try {
    return certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey)
  } catch {
    return false
  }
}

/** The subjects of the CA certificates in a PEM bundle (for "the file holds ..."). */
export function bundleSubjects (pem: string): string[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  const subjects: string[] = []
  for (const block of blocks) {
    try {
      subjects.push(oneLine(new X509Certificate(block).subject))
    } catch {
      // not a certificate Node can read: the TLS layer will say so
    }
  }
  return subjects
}

/** OpenSSL's verification errors that are about dates, not trust: the chain was built to a trusted CA. */
export const DATE_ERRORS: ReadonlySet<string> = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD'])

/** OpenSSL's verification errors that mean "no trusted CA issued this chain". */
export const UNTRUSTED_ERRORS: ReadonlySet<string> = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT'])
