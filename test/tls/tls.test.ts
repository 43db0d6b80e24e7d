import { connect as netConnect } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls'
import t from 'tap'
import { WebSocket } from 'ws'
import { build } from '../helper.js'
import { waitEvent, withTimeout } from 'fastify-tether/testing'

/** Resolves with the negotiated socket, or rejects with the handshake error. */
function handshake (port: number, options: ConnectionOptions): Promise<TLSSocket> {
  return withTimeout(new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', servername: 'localhost', port, ...options })
    socket.once('secureConnect', () => resolve(socket))
    socket.once('error', reject)
  }), 'for the TLS handshake')
}

t.test('a client that does not trust the dev CA fails the handshake and never reaches a handler', async (t) => {
  const { wsUrl, logs } = await build(t)
  const ws = new WebSocket(`${wsUrl}/ws/echo`) // no `ca`: the system store does not know the dev CA
  const [error] = await waitEvent(ws, 'error') as [NodeJS.ErrnoException]
  t.match(error.code, /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/)
  t.notOk(logs.lines.some((l) => l.msg === 'incoming request'), 'no HTTP request reached the server')
})

t.test('the same client trusting the dev CA through `ca` verifies the certificate for localhost and 127.0.0.1', async (t) => {
  const { port, ca } = await build(t)
  const byName = await handshake(port, { ca })
  t.equal(byName.authorized, true)
  byName.destroy()
  const byIp = await handshake(port, { ca, servername: undefined, host: '127.0.0.1' })
  t.equal(byIp.authorized, true)
  byIp.destroy()
})

t.test('TLS 1.3 is negotiated by default', async (t) => {
  const { port, ca } = await build(t)
  const socket = await handshake(port, { ca })
  t.equal(socket.getProtocol(), 'TLSv1.3')
  socket.destroy()
})

t.test('TLS 1.2 with an ECDHE AEAD suite is accepted', async (t) => {
  const { port, ca } = await build(t)
  const socket = await handshake(port, { ca, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })
  t.equal(socket.getProtocol(), 'TLSv1.2')
  t.equal(socket.getCipher().name, 'ECDHE-ECDSA-AES128-GCM-SHA256')
  socket.destroy()
})

t.test('TLS 1.1 is refused by the server', async (t) => {
  const { port, ca } = await build(t)
  // SECLEVEL=0 lets this client offer TLS 1.1 at all, so the refusal comes from the server.
  const error = await handshake(port, { ca, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })
    .then(() => null, (e: NodeJS.ErrnoException) => e)
  t.match(error?.message, /alert protocol version/, 'the server answered with a protocol_version alert')
})

t.test('a CBC suite is refused by the server', async (t) => {
  const { port, ca } = await build(t)
  const error = await handshake(port, { ca, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA' })
    .then(() => null, (e: NodeJS.ErrnoException) => e)
  t.match(error?.message, /alert handshake failure/, 'the server answered with a handshake_failure alert (OpenSSL 3.0 and 3.5 word it differently)')
})

t.test('a client that connects and says nothing is dropped after the handshake timeout', async (t) => {
  const { port } = await build(t, { config: { tlsHandshakeTimeoutMs: 300 } })
  const socket = netConnect({ host: '127.0.0.1', port })
  t.teardown(() => socket.destroy())
  await waitEvent(socket, 'connect')
  await waitEvent(socket, 'close')
  t.pass('the server closed the silent connection')
})

t.test('a client that sends its headers slowly is dropped after the headers timeout', async (t) => {
  const { port, ca } = await build(t, { config: { headersTimeoutMs: 300, connectionsCheckingIntervalMs: 50 } })
  const socket = await handshake(port, { ca })
  t.teardown(() => socket.destroy())
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString() })
  socket.write('GET /health HTTP/1.1\r\nHost: loc') // and then nothing more, like a slowloris client
  await waitEvent(socket, 'close')
  t.match(answer, /^HTTP\/1\.1 408 /)
})
