import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { connect } from 'node:tls'
import { Writable } from 'node:stream'
import t from 'tap'
import { ConfigError } from 'fastify-tether'
import { testCertificates, waitEvent, withTimeout, type LogLine } from 'fastify-tether/testing'
import pino from 'pino'
import { build } from '../helper.js'
import { health, SOURCE_SERVER, spawnServer, type ServerProcess } from '../process/support.js'
import { bannerBlock, bannerFields, describeCertificate, logFormat, loggerOptions, prettyDestination, READY_MESSAGE } from '../../server/logging.js'
import { loggableOrigin, MAX_LOGGED_ORIGIN } from '../../src/refusals.js'

// Item 7 of the "Operations" issue: logs a person can read. JSON unless stdout is a terminal
// (LOG_FORMAT overrides), redacted alike in both formats; a start banner with every URL and the
// CA to trust or the certificate's names and expiry; refusal lines with a bounded, cleaned Origin
// and the route pattern.

/** A ticket-shaped secret (43 base64url characters) that must never reach any log line. */
const SECRET = 'Zx9kQ2vT7mR4pL8nW3sY6bH1cJ5dF0gA2eK7uN4iO9q'

/** An attacker's Origin: escapes (C1 CSI, DEL, tab), a bidi override, and 600 characters. */
const MALICIOUS_ORIGIN = `https://evil.example\t\x7f\x9b31m\u202e${'A'.repeat(600)}`

/**
 * The same, as bytes Node's HTTP parser accepts in a header (it refuses C0 controls other than tab
 * and DEL with a 400, and reads the value as latin1): tab, C1 NEL and CSI.
 */
const RAW_MALICIOUS_ORIGIN = `https://evil.example\t\x85\x9b31m${'A'.repeat(600)}`

/** Control and format characters a log field must not carry. */
const UNSAFE = /[\p{Cc}\p{Cf}\u2028\u2029]/u

/**
 * Sends a WebSocket handshake over raw TLS, with the header bytes as given (latin1), so an Origin
 * can carry bytes a client library would refuse; resolves with the HTTP status line.
 */
async function rawUpgrade (port: number, ca: string, path: string, origin: string): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca })
  try {
    await waitEvent(socket, 'secureConnect')
    socket.write(Buffer.from([
      `GET ${path} HTTP/1.1`,
      `Host: localhost:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
      `Origin: ${origin}`,
      '', ''
    ].join('\r\n'), 'latin1'))
    const [chunk] = await waitEvent(socket, 'data') as [Buffer]
    return chunk.toString('latin1').split('\r\n')[0] ?? ''
  } finally {
    socket.destroy()
  }
}

/** Every stdout line of a spawned server as text, with a way to await one. */
function rawLines (server: ServerProcess): { lines: string[], ended: Promise<void>, waitFor: (match: RegExp, what: string, ms?: number) => Promise<string> } {
  const lines: string[] = []
  const waiters: Array<{ match: RegExp, resolve: (line: string) => void }> = []
  const reader = createInterface({ input: server.child.stdout! })
  // Every line has been read once stdout ends (the process's exit can come first).
  const ended = new Promise<void>((resolve) => reader.once('close', resolve))
  reader.on('line', (line) => {
    lines.push(line)
    for (const waiter of [...waiters]) {
      if (waiter.match.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(line)
      }
    }
  })
  return {
    lines,
    ended,
    waitFor: async (match, what, ms = 20_000) => {
      const seen = lines.find((line) => match.test(line))
      if (seen !== undefined) return seen
      return await withTimeout(Promise.race([
        new Promise<string>((resolve) => { waiters.push({ match, resolve }) }),
        ended.then(async () => { throw new Error(`stdout ended (exit ${await server.exited}): ${lines.join('\n')}`) })
      ]), `waiting for ${what}`, ms)
    }
  }
}

/** GET `path` over TLS and read the answer to its end. */
async function get (port: number, ca: string, path: string): Promise<number> {
  const { request } = await import('node:https')
  const response = await withTimeout(new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request(`https://localhost:${port}${path}`, { ca, agent: false }, resolve).on('error', reject).end()
  }), `for ${path}`)
  response.resume()
  await waitEvent(response, 'end')
  return response.statusCode ?? 0
}

t.test('LOG_FORMAT: json unless stdout is a terminal; json or pretty override it; anything else is a ConfigError', async (t) => {
  t.equal(logFormat({}, false), 'json')
  t.equal(logFormat({}, true), 'pretty')
  t.equal(logFormat({ LOG_FORMAT: 'json' }, true), 'json')
  t.equal(logFormat({ LOG_FORMAT: 'pretty' }, false), 'pretty')
  t.equal(logFormat({ LOG_FORMAT: ' Pretty ' }, false), 'pretty')
  t.equal(logFormat({ LOG_FORMAT: '' }, true), 'pretty')
  t.throws(() => logFormat({ LOG_FORMAT: 'yaml' }, false), ConfigError)
})

t.test('loggableOrigin: control and format characters removed, cut to 200 characters, credentials redacted', async (t) => {
  t.equal(loggableOrigin(undefined), undefined)
  t.equal(loggableOrigin('https://app.example.com'), 'https://app.example.com')
  const origin = loggableOrigin(MALICIOUS_ORIGIN)!
  t.notMatch(origin, UNSAFE)
  t.ok(origin.startsWith('https://evil.example31mAAA'), origin.slice(0, 40))
  t.equal(Array.from(origin).length, MAX_LOGGED_ORIGIN + 1, '200 characters and an ellipsis')
  t.ok(origin.endsWith('A…'))
  t.equal(loggableOrigin(`https://x.example/?ticket=${SECRET}`), 'https://x.example/?ticket=[redacted]')
  t.equal(loggableOrigin(['https://a.example', 'https://b.example']), 'https://a.example, https://b.example')
  // A surrogate pair is never split by the cut.
  t.equal(Array.from(loggableOrigin('😀'.repeat(300))!).length, MAX_LOGGED_ORIGIN + 1)
})

t.test('a refused upgrade with a long malicious Origin: one line with the route pattern and the cleaned, cut Origin', async (t) => {
  const server = await build(t)
  const status = await rawUpgrade(server.port, server.ca, `/ws/chat/lobby?ticket=${SECRET}`, RAW_MALICIOUS_ORIGIN)
  t.match(status, /^HTTP\/1\.1 403 /)
  const line = await server.logs.waitFor((l) => l.msg === 'upgrade refused', 'the refusal line')
  t.equal(line['reason'], 'origin_not_allowed')
  t.equal(line['route'], '/ws/chat/:room', 'the route pattern, not the URL')
  const origin = String(line['origin'])
  t.notMatch(origin, UNSAFE, 'no control characters')
  t.ok(Array.from(origin).length <= MAX_LOGGED_ORIGIN + 1, `bounded (${origin.length})`)
  t.ok(origin.startsWith('https://evil.example'), origin.slice(0, 30))
  t.notOk(server.logs.text().includes(SECRET), 'the ticket is in no line')

  // A refusal on no route at all carries no route, and never the raw URL.
  t.match(await rawUpgrade(server.port, server.ca, '/nowhere/lobby', 'https://evil.example'), /^HTTP\/1\.1 404 /)
  const unrouted = await server.logs.waitFor((l) => l.msg === 'upgrade refused' && l['reason'] === 'not_websocket_route', 'the 404 refusal')
  t.equal(unrouted['route'], undefined)
  t.equal(unrouted['origin'], 'https://evil.example')
})

t.test('the pretty destination gets lines already serialized and redacted: a ticket in a URL or a message never shows', async (t) => {
  let text = ''
  const out = new Writable({ write (chunk: Buffer, _encoding, callback) { text += chunk.toString(); callback() } })
  const log = pino(loggerOptions('info'), prettyDestination({ destination: out, colorize: false }))
  log.info({ req: { method: 'GET', url: `/ws/echo?ticket=${SECRET}`, ip: '127.0.0.1', socket: {} } }, 'incoming request')
  log.info(`Route GET:/nope?access_token=${SECRET} not found`)
  log.info({ origin: 'x' }, 'a line with \x1b[31mescapes\x1b[0m in its message')
  t.notOk(text.includes(SECRET), text)
  t.match(text, /INFO.*incoming request/)
  t.match(text, /ticket=\[redacted\]/)
  t.match(text, /access_token=\[redacted\]/)
  t.notOk(text.includes('\x1b'), 'no escape from a message')
  t.throws(() => JSON.parse(text.split('\n')[0] ?? ''), 'not JSON')
})

t.test('JSON when stdout is not a terminal: every line parses; the banner lists the URLs and the dev CA with its trust commands', async (t) => {
  const server = spawnServer(t, SOURCE_SERVER, { LOG_FORMAT: '' })
  const raw = rawLines(server)
  const bannerText = await raw.waitFor(/reference server ready/, 'the banner')
  const banner = JSON.parse(bannerText) as LogLine
  t.equal(banner.msg, READY_MESSAGE)
  const port = Number(new URL(String(banner['url'])).port)
  const caPath = join(server.certDir, 'ca.pem')
  const urls = banner['urls'] as Record<string, string>
  t.equal(urls['/health'], `https://localhost:${port}/health`)
  t.equal(urls['/ws/echo'], `wss://localhost:${port}/ws/echo`)
  t.equal(urls['/ws/feed'], `wss://localhost:${port}/ws/feed`)
  t.equal(urls['/ws/chat/:room'], `wss://localhost:${port}/ws/chat/:room`)
  t.equal(urls['/ready'], `https://localhost:${port}/ready`)
  t.equal(urls['/metrics'], undefined, 'metrics are off by default: not listed')
  for (const url of Object.values(urls)) t.match(url, new RegExp(`^(https|wss)://localhost:${port}/`))
  t.equal(banner['caPath'], caPath)
  t.same(banner['trust'], {
    node: `NODE_EXTRA_CA_CERTS=${caPath}`,
    curl: `curl --cacert ${caPath} https://localhost:${port}/health`,
    browsers: 'import the CA as a trusted certificate authority (README "Trust the dev CA")'
  })
  t.equal(banner['certificate'], undefined)

  const ca = await readFile(caPath, 'utf8')
  // /health logs only warnings; a 404 logs its request and Fastify's `Route ... not found`.
  t.equal(await get(port, ca, `/nope?ticket=${SECRET}`), 404)
  await raw.waitFor(/not found/, 'the 404 line')
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0)
  await raw.ended
  t.ok(raw.lines.length > 3)
  for (const line of raw.lines) t.doesNotThrow(() => JSON.parse(line), line.slice(0, 80))
  t.same(server.other, [], 'nothing but JSON objects')
  t.notOk(raw.lines.join('\n').includes(SECRET), 'no ticket')
})

t.test('LOG_FORMAT=pretty: readable lines through the same redaction, the banner as a block, refusal Origins cleaned', async (t) => {
  const server = spawnServer(t, SOURCE_SERVER, { LOG_FORMAT: 'pretty' })
  const raw = rawLines(server)
  await raw.waitFor(/INFO.*fastify-tether reference server ready$/, 'the banner')
  const browsers = await raw.waitFor(/^ {6}browsers: /, 'the end of the banner')
  const caPath = join(server.certDir, 'ca.pem')
  const start = raw.lines.findIndex((line) => line.endsWith(READY_MESSAGE))
  const block = raw.lines.slice(start, raw.lines.indexOf(browsers) + 1)
  const port = Number(/https:\/\/localhost:(\d+)\/health/.exec(block.join('\n'))?.[1])
  t.ok(port > 0, 'the /health URL gives the port')
  for (const [path, scheme] of [['/health', 'https'], ['/ws/echo', 'wss'], ['/ws/feed', 'wss'], ['/ws/chat/:room', 'wss']]) {
    t.ok(block.some((line) => new RegExp(`^ {4}${path} +${scheme}://localhost:${port}${path}$`).test(line)), `${path} on a line of its own`)
  }
  t.match(block.join('\n'), `development CA: ${caPath}`)
  t.match(block.join('\n'), `Node:     NODE_EXTRA_CA_CERTS=${caPath}`)
  t.match(block.join('\n'), `curl:     curl --cacert ${caPath} https://localhost:${port}/health`)
  t.match(block.join('\n'), 'README "Trust the dev CA"')
  t.notOk(block.some((line) => /^\s+(urls|trust|caPath|wss|url):/.test(line)), 'the banner fields are drawn, not dumped')

  const ca = await readFile(caPath, 'utf8')
  t.equal(await health(port, ca), 200)
  t.equal(await get(port, ca, `/nope?ticket=${SECRET}`), 404)
  t.match(await rawUpgrade(port, ca, `/ws/chat/lobby?ticket=${SECRET}`, RAW_MALICIOUS_ORIGIN), /^HTTP\/1\.1 403 /)
  await raw.waitFor(/INFO.*upgrade refused/, 'the refusal')
  const origin = await raw.waitFor(/^ {4}origin: /, 'the refusal origin')
  t.notMatch(origin, UNSAFE)
  t.ok(origin.length < MAX_LOGGED_ORIGIN + 30, `bounded (${origin.length})`)
  t.ok(raw.lines.some((line) => line === '    route: "/ws/chat/:room"'), 'the route pattern')
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0)
  await raw.ended

  const text = raw.lines.join('\n')
  t.notOk(text.includes(SECRET), 'the ticket is in no line')
  t.match(text, /ticket=\[redacted\]/, 'the URL is logged, redacted')
  t.match(text, /WARN.*JWT_SECRET is not set/)
  t.match(text, /INFO.*incoming request/)
  t.match(text, /INFO.*shutting down/)
  t.notOk(text.includes('\x1b'), 'no colors or escapes into a pipe')
  for (const line of raw.lines) t.throws(() => JSON.parse(line) as unknown, `not JSON: ${line.slice(0, 60)}`)
  t.same(server.logs.lines, [], 'no JSON object line')
})

t.test('with a real certificate the banner gives its subject, names and not-after instead of a CA', async (t) => {
  const certs = await testCertificates()
  // Not t.testdir(): spawnServer's CERT_DIR is that directory, made afresh.
  const dir = await mkdtemp(join(tmpdir(), 'tether-logs-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'cert.pem'), certs.cert)
  await writeFile(join(dir, 'key.pem'), certs.key)
  const expected = describeCertificate(certs.cert)
  t.match(expected.subjectAltNames, ['DNS:localhost'])
  t.match(expected.notAfter, /^\d{4}-\d\d-\d\dT/)

  const json = spawnServer(t, SOURCE_SERVER, { TLS_CERT: join(dir, 'cert.pem'), TLS_KEY: join(dir, 'key.pem') })
  const banner = await Promise.race([
    json.logs.waitFor((l) => l.msg === READY_MESSAGE, 'the banner', 20_000),
    json.exited.then((code) => { throw new Error(`exited with ${code}: ${json.logs.text()}`) })
  ])
  t.same(banner['certificate'], expected)
  t.equal(banner['caPath'], undefined)
  t.equal(banner['trust'], undefined)
  t.equal((banner['urls'] as Record<string, string>)['/ws/echo'], `wss://localhost:${new URL(String(banner['url'])).port}/ws/echo`)
  json.child.kill('SIGTERM')
  t.equal(await json.exited, 0)

  const pretty = spawnServer(t, SOURCE_SERVER, { TLS_CERT: join(dir, 'cert.pem'), TLS_KEY: join(dir, 'key.pem'), LOG_FORMAT: 'pretty' })
  const raw = rawLines(pretty)
  await raw.waitFor(/^ {6}not after: /, 'the banner')
  const text = raw.lines.join('\n')
  t.match(text, `certificate: ${expected.subject}`)
  t.match(text, `names:     ${expected.subjectAltNames.join(', ')}`)
  t.match(text, `not after: ${expected.notAfter}`)
  t.notMatch(text, /development CA:/)
  pretty.child.kill('SIGTERM')
  t.equal(await pretty.exited, 0)
  await raw.ended
})

t.test('a bad LOG_FORMAT or LOG_LEVEL fails the start with the variable named', async (t) => {
  const server = spawnServer(t, SOURCE_SERVER, { LOG_FORMAT: 'yaml' })
  t.equal(await server.exited, 1)
  const line = await server.logs.waitFor((l) => l.msg === 'could not start', 'the failure line')
  t.match((line['err'] as { message: string }).message, /LOG_FORMAT must be json or pretty/)

  // An unknown LOG_LEVEL is refused the same way, in pretty output too (not a pino stack trace).
  const pretty = spawnServer(t, SOURCE_SERVER, { LOG_FORMAT: 'pretty', LOG_LEVEL: 'bogus' })
  const raw = rawLines(pretty)
  t.equal(await pretty.exited, 1)
  await raw.waitFor(/FATAL: could not start/, 'the failure line')
  await raw.waitFor(/LOG_LEVEL must be one of/, 'the reason')
})

t.test('the pretty banner block lists only what it has', async (t) => {
  const block = bannerBlock({ url: 'http://localhost:1', wss: 'ws://localhost:1/ws/echo', urls: { '/health': 'http://localhost:1/health' } })
  t.equal(block, `${READY_MESSAGE}\n    /health  http://localhost:1/health`)
})

t.test('bannerFields lists the routes the app has, /metrics at its own listener when it has one, and http/ws without TLS', async (t) => {
  const routes = new Set(['/health', '/ws/echo', '/metrics'])
  const app = { hasRoute: ({ url }: { url: string }) => routes.has(url) } as unknown as Parameters<typeof bannerFields>[0]
  const dev = bannerFields(app, 8443, { devCaPath: '/certs/ca.pem', cert: '' })
  t.same(Object.keys(dev.urls), ['/health', '/metrics', '/ws/echo'], 'in order, only those that exist')
  t.equal(dev.urls['/metrics'], 'https://localhost:8443/metrics')
  const loopback = bannerFields({ ...app, hasRoute: app.hasRoute, metrics: { url: 'http://127.0.0.1:9464/metrics' } }, 8443, { devCaPath: '/certs/ca.pem', cert: '' })
  t.equal(loopback.urls['/metrics'], 'http://127.0.0.1:9464/metrics')
  const plain = bannerFields(app, 8080, undefined)
  t.same(plain.urls, { '/health': 'http://localhost:8080/health', '/metrics': 'http://localhost:8080/metrics', '/ws/echo': 'ws://localhost:8080/ws/echo' })
  t.equal(plain.wss, 'ws://localhost:8080/ws/echo')
  t.equal(plain.caPath, undefined)
  t.equal(plain.certificate, undefined)
})

t.test('websocket accepted and websocket closed carry the full route pattern, with the prefix of the plugin that declared it', async (t) => {
  const server = await build(t, {
    routes: async (app) => {
      await app.register(async (scope) => {
        scope.ws('/rooms/:room', { auth: false }, async (connection) => { await connection.send('hi') })
      }, { prefix: '/v2' })
    }
  })
  const ws = await server.connect('/v2/rooms/lobby?ticket=' + SECRET)
  await waitEvent(ws, 'close')
  const accepted = await server.logs.waitFor((l) => l.msg === 'websocket accepted', 'the accepted line')
  const closed = await server.logs.waitFor((l) => l.msg === 'websocket closed', 'the closed line')
  t.equal(accepted['route'], '/v2/rooms/:room')
  t.equal(closed['route'], '/v2/rooms/:room')
  t.notOk(server.logs.lines.some((l) => String(l['route']).includes('lobby')), 'no route field is the URL')
  t.notOk(server.logs.text().includes(SECRET), 'the ticket is in no line')
})
