import { X509Certificate } from 'node:crypto'
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, type TLSSocket } from 'node:tls'
import { ensureDevCertificates } from 'fastify-tether/dev-certs'
import { waitEvent } from 'fastify-tether/testing'

const DAY_MS = 86_400_000

/** A PEM pair and the serial a client sees for it. */
export interface Pair { cert: string, key: string, serial: string }

/** One development CA and leaves it signs (or not quite), in temporary folders removed at teardown. */
export interface CertificateKit {
  ca: string
  /** A fresh leaf for localhost under the CA; every call a new key and serial. */
  leaf: (options?: { now?: Date }) => Promise<Pair>
  /** The CA certificate itself (for bundles). */
  caCert: string
  /** A folder with `cert.pem` and `key.pem` written as an ACME client does (temp file, then rename). */
  live: string
  install: (pair: { cert: string, key: string }) => Promise<void>
}

export async function certificateKit (t: { teardown: (fn: () => unknown) => void }): Promise<CertificateKit> {
  const root = await mkdtemp(join(tmpdir(), 'tether-cert-reload-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  const caDir = join(root, 'ca')
  const first = await ensureDevCertificates({ dir: caDir })
  let count = 0
  const leaf = async (options: { now?: Date } = {}): Promise<Pair> => {
    const dir = join(root, `leaf-${++count}`)
    await mkdir(dir, { recursive: true })
    await copyFile(first.caPath, join(dir, 'ca.pem'))
    await copyFile(first.caKeyPath, join(dir, 'ca-key.pem'))
    const made = await ensureDevCertificates({ dir, ...(options.now === undefined ? {} : { now: options.now }) })
    return { cert: made.cert, key: made.key, serial: new X509Certificate(made.cert).serialNumber.toUpperCase() }
  }
  const live = join(root, 'live')
  await mkdir(live)
  let writes = 0
  const install = async (pair: { cert: string, key: string }): Promise<void> => {
    for (const [name, text] of [['key.pem', pair.key], ['cert.pem', pair.cert]] as const) {
      const temporary = join(live, `.${name}.${++writes}.tmp`)
      await writeFile(temporary, text, { mode: 0o600 })
      await rename(temporary, join(live, name))
    }
  }
  return { ca: first.ca, caCert: first.ca, leaf, live, install }
}

/** Days from now, for leaves that are expired or not valid yet. */
export function daysFromNow (days: number): Date {
  return new Date(Date.now() + days * DAY_MS)
}

/** A new TLS handshake with `localhost:port` trusting `ca`: the serial the server presents. */
export async function servedSerial (port: number, ca: string): Promise<string> {
  const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca })
  try {
    await waitEvent(socket, 'secureConnect')
    return socket.getPeerCertificate().serialNumber.toUpperCase()
  } finally {
    socket.destroy()
  }
}
