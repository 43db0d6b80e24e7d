import { once } from 'node:events'
import { connect as tcpConnect, type Socket } from 'node:net'
import { createServer } from 'node:https'
import t from 'tap'
import { limitSockets } from 'fastify-tether'
import { LogCapture, onTestEnd, testCertificates, withTimeout } from 'fastify-tether/testing'
import pino from 'pino'
import { loadConfig } from '../../server/config.js'
import { build, type Built } from '../helper.js'

// Finding 5: one address opening idle TLS sockets (never finishing the handshake) must not take
// the server's file descriptors. The caps are checked when TCP accepts, before TLS.

/** Opens `count` idle TCP sockets from `localAddress` (no TLS ClientHello, as the attack did). */
function idle (t: Parameters<typeof onTestEnd>[0], port: number, count: number, localAddress: string): Socket[] {
  const sockets: Socket[] = []
  for (let i = 0; i < count; i++) {
    const socket = tcpConnect({ host: '127.0.0.1', port, localAddress })
    socket.on('error', () => {})
    sockets.push(socket)
  }
  onTestEnd(t, () => { for (const socket of sockets) socket.destroy() })
  return sockets
}

/** Resolves once the server has accepted (counted or refused) `total` sockets. */
function accepted (built: Built, total: number): Promise<void> {
  const done = (): boolean => built.app.sockets.stats.open + built.app.sockets.stats.refusedPerAddress + built.app.sockets.stats.refusedGlobal >= total
  return withTimeout(new Promise<void>((resolve) => {
    if (done()) { resolve(); return }
    const check = (): void => {
      // The limiter's listener ran before this one; a refused socket closes a moment later.
      setImmediate(() => { if (done()) { built.app.server.off('connection', check); resolve() } })
    }
    built.app.server.on('connection', check)
  }), `for ${total} accepted sockets`)
}

t.test('one address holds at most MAX_SOCKETS_PER_IP sockets; the rest are closed before TLS; others still connect', async (t) => {
  const built = await build(t, { config: { maxSocketsPerIp: 20 } })
  const flood = idle(t, built.port, 300, '127.0.0.2')
  const refusedClosed = new Promise<void>((resolve) => {
    let closed = 0
    for (const socket of flood) socket.once('close', () => { if (++closed === 280) resolve() })
  })
  await accepted(built, 300)
  const { stats } = built.app.sockets
  t.equal(stats.open, 20, 'the flooding address holds 20 sockets')
  t.equal(stats.refusedPerAddress, 280)
  await withTimeout(refusedClosed, 'for the 280 refused sockets to be closed by the server')
  const client = await built.client('/ws/echo')
  client.send('still here')
  t.equal(await client.next(), 'still here', 'a client from another address connects and echoes during the flood')
  const warnings = built.logs.lines.filter((line) => String(line.msg).startsWith('socket refused'))
  t.equal(warnings.length, 1, '280 refusals, one log line (the rest are summarised once per 10 s)')
  t.match(warnings[0], { limit: 'per_address', address: '127.0.0.2' })
})

t.test('a closed socket frees its slot', async (t) => {
  const built = await build(t, { config: { maxSocketsPerIp: 2 } })
  const serverSide: Socket[] = []
  built.app.server.on('connection', (socket: Socket) => { serverSide.push(socket) })
  const sockets = idle(t, built.port, 2, '127.0.0.3')
  await accepted(built, 2)
  t.equal(built.app.sockets.stats.open, 2)
  const released = once(serverSide[0] as Socket, 'close')
  sockets[0]?.destroy()
  await withTimeout(released, 'for the server side of the closed socket to close')
  t.equal(built.app.sockets.stats.open, 1, 'the slot is released on close')
  const next = once(built.app.server, 'connection')
  idle(t, built.port, 1, '127.0.0.3')
  await withTimeout(next, 'for the third socket')
  t.same([built.app.sockets.stats.open, built.app.sockets.stats.refusedPerAddress], [2, 0], 'the third socket took the freed slot')
})

t.test('MAX_SOCKETS caps all sockets, whatever their address', async (t) => {
  const built = await build(t, { config: { maxSocketsPerIp: 0, maxSockets: 5 } })
  idle(t, built.port, 3, '127.0.0.4')
  idle(t, built.port, 4, '127.0.0.5')
  await accepted(built, 7)
  t.same([built.app.sockets.stats.open, built.app.sockets.stats.refusedGlobal, built.app.sockets.stats.refusedPerAddress], [5, 2, 0])
})

t.test('limitSockets on a bare https server: refusals are logged once per interval with a count', async (t) => {
  const certificates = await testCertificates()
  const server = createServer({ cert: certificates.cert, key: certificates.key })
  const logs = new LogCapture()
  const limiter = limitSockets(server, { maxPerAddress: 1, max: 0, log: pino(logs.stream), logIntervalMs: 50 })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  onTestEnd(t, () => { limiter.close(); server.close() })
  const port = (server.address() as { port: number }).port
  const sockets = idle(t, port, 10, '127.0.0.6')
  await withTimeout(Promise.all(sockets.slice(1).map(async (socket) => { if (!socket.destroyed) await once(socket, 'close') })), 'for 9 refusals')
  const summary = await logs.waitFor((line) => line.msg === 'sockets refused: over the socket limit', 'the summary line')
  t.equal(summary['refused'], limiter.stats.refusedPerAddress - 1, 'the first refusal logged at once, the rest in one summary')
  t.equal(logs.lines.filter((line) => String(line.msg).includes('refused')).length, 2)
})

t.test('configuration: MAX_SOCKETS_PER_IP, MAX_SOCKETS, API_RATE_PER_MIN', async (t) => {
  t.same([loadConfig({}).maxSocketsPerIp, loadConfig({}).maxSockets, loadConfig({}).tether.httpRatePerMin], [128, undefined, 120], 'defaults')
  const set = loadConfig({ MAX_SOCKETS_PER_IP: '0', MAX_SOCKETS: '500', API_RATE_PER_MIN: '0' })
  t.same([set.maxSocketsPerIp, set.maxSockets, set.tether.httpRatePerMin], [0, 500, 0])
  t.equal(loadConfig({ TRUST_PROXY: '10.0.0.1' }).maxSocketsPerIp, 0, 'behind a proxy every socket is the proxy\'s: no per-address cap unless set')
  t.throws(() => loadConfig({ MAX_SOCKETS: '-1' }), /MAX_SOCKETS/)
})
