import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Server as TlsServer, TLSSocket } from 'node:tls'
import t, { type Test } from 'tap'
import { TETHER_DEFAULTS, validateCertificatePair, watchCertificate, type CertificateReloadResult } from 'fastify-tether'
import { LogCapture, TestClient, listen, waitOpen, type TestServer } from 'fastify-tether/testing'
import pino from 'pino'
import { WebSocket } from 'ws'
import { buildApp } from '../../server/app.js'
import { loadCertificate, watchServerCertificate } from '../../server/certificate.js'
import { loadConfig, type AppConfig } from '../../server/config.js'
import { loggerOptions } from '../../server/logging.js'
import { certificateKit, daysFromNow, servedSerial, type CertificateKit, type Pair } from './certs.js'

// Item 4 of the "Operations" issue: the certificate is swapped in without a restart when its files
// change (and on SIGHUP: test/process/cert-reload-sighup.test.ts); open connections are untouched,
// new handshakes see the new serial, and a bad pair changes nothing but an error line.

const CLIENTS = 20

function testConfig (overrides: Partial<AppConfig> = {}): AppConfig {
  return { ...loadConfig({}), host: '127.0.0.1', port: 0, logLevel: 'debug', ...overrides, tether: { ...TETHER_DEFAULTS } }
}

async function serve (t: Test, kit: CertificateKit, pair: Pair): Promise<{ server: TestServer, logs: LogCapture }> {
  const config = testConfig()
  const logs = new LogCapture()
  const app = await buildApp({ config, certificate: pair, loggerInstance: pino(loggerOptions(config.logLevel), logs.stream) })
  const server = await listen(t, app, { ca: kit.ca, logs })
  return { server, logs }
}

/** A `ws` client on /ws/echo that remembers the TLS socket it was upgraded on. */
async function echoClient (server: TestServer): Promise<{ client: TestClient, socket: TLSSocket }> {
  const ws = new WebSocket(`${server.wsUrl}/ws/echo`, { ca: server.ca })
  let socket: TLSSocket | undefined
  ws.once('upgrade', (response) => { socket = response.socket as TLSSocket })
  const client = new TestClient(ws)
  await waitOpen(ws)
  if (socket === undefined) throw new Error('no upgrade event')
  return { client, socket }
}

async function echoAll (t: Test, clients: Array<{ client: TestClient }>, round: string): Promise<void> {
  await Promise.all(clients.map(({ client }, i) => { client.send(`${round}-${i}`); return undefined }))
  const answers = await Promise.all(clients.map(async ({ client }) => await client.next()))
  t.same(answers, clients.map((_c, i) => `${round}-${i}`), `all ${clients.length} clients echo (${round})`)
}

t.test('validateCertificatePair says what is wrong', async (t) => {
  const kit = await certificateKit(t)
  const [a, b] = [await kit.leaf(), await kit.leaf()]
  const info = validateCertificatePair(a)
  t.equal(info.serialNumber, a.serial)
  t.match(info.subjectAltName, /DNS:localhost/)
  t.equal(info.chainLength, 1)
  t.equal(validateCertificatePair({ cert: a.cert + kit.caCert, key: a.key }).chainLength, 2, 'a bundle: leaf, then its issuer')
  t.throws(() => validateCertificatePair({ cert: kit.caCert + a.cert, key: a.key }), /does not match/, 'the leaf comes first')
  t.throws(() => validateCertificatePair({ cert: a.cert + b.cert, key: a.key }), /not issued by certificate 2/, 'each certificate is issued by the next')
  t.throws(() => validateCertificatePair({ cert: b.cert, key: a.key }), /private key does not match/)
  t.throws(() => validateCertificatePair({ cert: 'not a certificate', key: a.key }), /no PEM certificate/)
  t.throws(() => validateCertificatePair({ cert: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', key: a.key }), /certificate 1 of 1 in the bundle does not parse/)
  t.throws(() => validateCertificatePair({ cert: a.cert, key: 'garbage' }), /private key does not parse/)
  const expired = await kit.leaf({ now: daysFromNow(-500) })
  t.throws(() => validateCertificatePair(expired), /expired on/)
  const future = await kit.leaf({ now: daysFromNow(30) })
  t.throws(() => validateCertificatePair(future), /not valid yet/)
})

t.test(`a file change rotates the certificate under ${CLIENTS} open clients; bad pairs change nothing`, async (t) => {
  const kit = await certificateKit(t)
  const [a, b] = [await kit.leaf(), await kit.leaf()]
  await kit.install(a)
  const { server, logs } = await serve(t, kit, a)
  const loadedSerials: string[] = []
  const watcher = watchCertificate(server.app.server as unknown as TlsServer, {
    certPath: join(kit.live, 'cert.pem'),
    keyPath: join(kit.live, 'key.pem'),
    log: server.app.log,
    debounceMs: 50,
    onLoad: ({ info }) => { loadedSerials.push(info.serialNumber) }
  })
  t.teardown(() => watcher.close())
  await logs.waitFor((line) => line['trigger'] === 'start', 'the first load')
  t.equal(await servedSerial(server.port, kit.ca), a.serial, 'serving A')

  const clients = await Promise.all(Array.from({ length: CLIENTS }, async () => await echoClient(server)))
  await echoAll(t, clients, 'before')

  await kit.install(b)
  const reloaded = await logs.waitFor((line) => line['trigger'] === 'watch' && line['serialNumber'] === b.serial, 'the reload after the file change')
  t.match(reloaded, { msg: /certificate loaded/, subjectAltName: /DNS:localhost/, level: 30 })
  t.comment(`reload on file change took ${String(reloaded['durationMs'])} ms (read, validate, setSecureContext)`)
  t.equal(await servedSerial(server.port, kit.ca), b.serial, 'a new handshake sees B')
  const fresh = await echoClient(server)
  t.equal(fresh.socket.getPeerCertificate().serialNumber.toUpperCase(), b.serial, 'a new wss client sees B')
  t.ok(clients.every(({ client }) => client.ws.readyState === WebSocket.OPEN), 'every open client is still open')
  t.ok(clients.every(({ socket }) => socket.getPeerCertificate().serialNumber.toUpperCase() === a.serial), 'their sessions are the ones made with A')
  await echoAll(t, [...clients, fresh], 'after')

  // Broken pairs, through reload() with the file watch's own events in between: nothing changes.
  const expired = await kit.leaf({ now: daysFromNow(-500) })
  const broken: Array<[string, { cert: string, key: string }, RegExp]> = [
    ['the key of another certificate', { cert: a.cert, key: b.key }, /private key does not match/],
    ['an expired certificate', expired, /expired on/],
    ['garbage PEM', { cert: 'garbage', key: 'garbage' }, /no PEM certificate/]
  ]
  for (const [what, pair, says] of broken) {
    await kit.install(pair)
    const result: CertificateReloadResult = await watcher.reload('test')
    t.equal(result.status, 'refused', `${what}: refused`)
    t.match(result.error, says, `${what}: the error says why`)
    const line = await logs.waitFor((l) => l['trigger'] === 'test' && l.level === 50 && says.test(String((l['err'] as { message?: string } | undefined)?.message)), `the error line for ${what}`)
    t.match(line, { msg: /refused; the previous certificate keeps serving/, servingSerialNumber: b.serial })
    t.equal(await servedSerial(server.port, kit.ca), b.serial, `${what}: still serving B`)
  }
  await echoAll(t, [...clients, fresh], 'after broken pairs')
  t.equal(watcher.current?.serialNumber, b.serial)
  t.same(loadedSerials, [a.serial, b.serial], 'onLoad told about each pair swapped in, and no refused one')

  // Timing: a few more swaps, alternating A and B, through reload() directly.
  const timings: number[] = []
  for (let i = 0; i < 10; i++) {
    const pair = i % 2 === 0 ? a : b
    await kit.install(pair)
    const result = await watcher.reload('timing')
    if (result.status === 'reloaded') timings.push(result.durationMs)
    else if (result.status !== 'unchanged') t.fail(`reload ${i}: ${result.status} ${result.error ?? ''}`)
  }
  timings.sort((x, y) => x - y)
  t.ok(timings.length > 0, 'timed some reloads')
  t.comment(`reload() over ${timings.length} swaps: median ${timings[Math.floor(timings.length / 2)]} ms, max ${timings[timings.length - 1]} ms`)
})

t.test('a development leaf nearing expiry is re-issued under the same CA and served without a restart', async (t) => {
  const certDir = t.testdir()
  const config = testConfig({ certDir, tlsWatch: false })
  const logs = new LogCapture()
  const log = pino(loggerOptions('debug'), logs.stream)
  const loaded = await loadCertificate(config, log)
  const ca = await readFile(join(certDir, 'ca.pem'), 'utf8')
  const app = await buildApp({ config, certificate: loaded, loggerInstance: log })
  const server = await listen(t, app, { ca, logs })
  const before = await servedSerial(server.port, ca)
  // 398 days: the 397-day leaf is "near expiry" at once, as it would be a year from now.
  const watcher = watchServerCertificate(app.server, config, loaded, app.log, { renewWithinMs: 398 * 86_400_000 })
  t.teardown(() => watcher.close())
  const client = await echoClient(server)
  const result = await watcher.reload('SIGHUP')
  t.equal(result.status, 'reloaded')
  t.ok(logs.lines.some((line) => line.msg === 'issued a new development server certificate'), 'the leaf was re-issued')
  const after = await servedSerial(server.port, ca)
  t.not(after, before, 'a new serial')
  t.equal(after, result.certificate?.serialNumber)
  t.equal(await readFile(join(certDir, 'ca.pem'), 'utf8'), ca, 'the same CA: clients keep trusting it')
  client.client.send('still here')
  t.equal(await client.client.next(), 'still here', 'the open client is untouched')
})
