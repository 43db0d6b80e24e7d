// Property test of the pre-upgrade checks over real TLS against the reference server: random
// Origin, Authorization, Sec-WebSocket-Protocol, Cookie and extra headers and random query strings.
// Invariants: a refusal is an HTTP status with a JSON body {error, message} (never a 5xx, never a
// dropped connection); a socket opens exactly when the request was valid; no secret from any
// request appears in any log line; the server still answers afterwards.
import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import fc from 'fast-check'
import t from 'tap'
import { withTimeout } from 'fastify-tether/testing'
import { build, type Built } from '../helper.js'

const MARK = 'SEKRIT'
const printable = (max: number): fc.Arbitrary<string> => fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max })
const secret = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split('')), minLength: 12, maxLength: 24 }).map((s) => MARK + s)
const queryNoise = printable(12).map((s) => s.replace(/[&=#]/g, '')).filter((s) => !/ticket/i.test(decodeLoose(s)) && !/ticket/i.test(s))

function decodeLoose (text: string): string {
  try { return decodeURIComponent(text.replace(/\+/g, ' ')) } catch { return text }
}

interface Outcome { upgraded: boolean, status: number, body: string }

function attempt (built: Built, path: string, headers: Record<string, string>): Promise<Outcome> {
  return withTimeout(new Promise<Outcome>((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1',
      servername: 'localhost',
      port: built.port,
      path,
      ca: built.ca,
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...headers
      }
    })
    req.on('upgrade', (res: IncomingMessage, socket) => {
      socket.destroy()
      resolve({ upgraded: true, status: res.statusCode ?? 0, body: '' })
    })
    req.on('response', (res: IncomingMessage) => {
      let body = ''
      res.on('data', (chunk) => { body += String(chunk) })
      res.on('end', () => resolve({ upgraded: false, status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  }), `for the answer to ${path}`)
}

t.test('random header sets: JSON refusals or a socket exactly when valid, no secret logged', async (t) => {
  const built = await build(t, { tether: { handshakeRatePerMin: 0, maxConnectionsPerUser: 10_000, maxConnectionsPerIp: 10_000 } })
  const allowed = [`https://localhost:${built.port}`, `https://127.0.0.1:${built.port}`]
  const secrets = new Set<string>()
  const mfaToken = (): string => built.token({ sub: 'alice', amr: ['pwd', 'mfa'] })
  const pwdToken = (): string => built.token({ sub: 'bob', amr: ['pwd'] })

  const request = fc.record({
    path: fc.constantFrom('/ws/echo', '/ws/feed', '/ws/chat/lobby', '/ws/chat/Bad!', '/ws/nope'),
    query: fc.option(fc.array(fc.oneof(
      fc.tuple(queryNoise, fc.option(queryNoise)).map(([name, value]) => ({ text: value === null ? name : `${name}=${value}`, ticket: false })),
      secret.map((value) => ({ text: `ticket=${value}`, ticket: true }))
    ), { maxLength: 4 })),
    origin: fc.option(fc.oneof(fc.constantFrom(...allowed, 'null', `${allowed[0] ?? ''}.evil.com`, `http://localhost:${built.port}`), printable(30))),
    auth: fc.oneof(fc.constantFrom('none', 'mfa', 'pwd'), secret.map((s) => `Bearer ${s}`), printable(40)),
    protocols: fc.option(fc.array(fc.oneof(
      fc.constantFrom('tether', 'chat.v1', 'graphql-ws').map((text) => ({ text, ticket: false })),
      secret.map((value) => ({ text: `tether.ticket.${value}`, ticket: true }))
    ), { minLength: 1, maxLength: 3 })),
    cookie: fc.option(fc.tuple(secret, printable(20)).map(([s, rest]) => `sid=${s}; other=${rest.replace(/;/g, '')}`)),
    extra: fc.array(fc.tuple(fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz-'.split('')), minLength: 1, maxLength: 10 }).map((n) => `x-${n}`), fc.oneof(secret, printable(30))), { maxLength: 3 })
  })

  await fc.assert(fc.asyncProperty(request, async (r) => {
    const headers: Record<string, string> = {}
    for (const [name, value] of r.extra) headers[name] = value
    if (r.origin !== null) headers['origin'] = r.origin
    let token: string | undefined
    if (r.auth === 'mfa') token = mfaToken()
    else if (r.auth === 'pwd') token = pwdToken()
    if (token !== undefined) { headers['authorization'] = `Bearer ${token}`; secrets.add(token) } else if (r.auth !== 'none') headers['authorization'] = r.auth
    if (r.protocols !== null) headers['sec-websocket-protocol'] = r.protocols.map((p) => p.text).join(', ')
    if (r.cookie !== null) headers['cookie'] = r.cookie
    for (const value of [...Object.values(headers), ...(r.query ?? []).map((q) => q.text)]) {
      for (const match of value.matchAll(new RegExp(`${MARK}[a-z0-9]+`, 'g'))) secrets.add(match[0])
    }
    const path = r.query === null ? r.path : `${r.path}?${r.query.map((q) => q.text).join('&')}`
    const outcome = await attempt(built, path, headers)

    // The model of a valid request.
    const originOk = r.origin === null || allowed.includes(r.origin)
    const tickets = (r.query ?? []).filter((q) => q.ticket).length + (r.protocols ?? []).filter((p) => p.ticket).length
    const authOk = tickets <= 1 && ((r.path === '/ws/feed' && r.auth === 'mfa') || (r.path === '/ws/chat/lobby' && (r.auth === 'mfa' || r.auth === 'pwd')))
    // RFC 6455 section 4.1: the offered subprotocols are distinct tokens (400 invalid_handshake otherwise).
    const offered = (r.protocols ?? []).filter((p) => !p.ticket).map((p) => p.text)
    const protocolsOk = new Set(offered).size === offered.length
    const valid = originOk && protocolsOk && (r.path === '/ws/echo' || authOk)

    if (outcome.upgraded) {
      if (!valid) throw new Error(`a socket opened for an invalid request to ${path}`)
      return
    }
    if (valid) throw new Error(`a valid request to ${path} was refused: ${outcome.status} ${outcome.body}`)
    if (outcome.status < 400 || outcome.status >= 500) throw new Error(`refused with ${outcome.status}: ${outcome.body}`)
    const body = JSON.parse(outcome.body) as Record<string, unknown>
    if (typeof body['error'] !== 'string' || typeof body['message'] !== 'string') throw new Error(`refusal body without error and message: ${outcome.body}`)
  }), { numRuns: 40 })

  const text = built.logs.text()
  const leaked = [...secrets].filter((s) => text.includes(s))
  t.same(leaked, [], `none of ${secrets.size} secrets appears in ${built.logs.lines.length} log lines`)
  t.notOk(built.logs.lines.some((l) => l.level >= 50), 'nothing was logged at error level or above')
  const health = await withTimeout(new Promise<number>((resolve, reject) => {
    httpsRequest(`${built.url}/health`, { ca: built.ca, agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', reject).end()
  }), 'for /health')
  t.equal(health, 200, 'the server still answers')
})
