// Finding 4 of the hardening pass: claims of an unexpected type must fail closed. Over real wss
// against the reference server (its `claims` schema and lifetime cap), and against the library
// alone where the route's own fail-closed checks are what is under test.
import { createHmac } from 'node:crypto'
import { request as httpsRequest } from 'node:https'
import { Type } from '@sinclair/typebox'
import { createDecoder } from 'fast-jwt'
import Fastify from 'fastify'
import t from 'tap'
import type { WebSocket } from 'ws'
import { ConfigError, jwtAuth, tetherPlugin, type AuthScheme } from 'fastify-tether'
import { tetherTest, waitClose, withTimeout } from 'fastify-tether/testing'
import chat from '../../routes/ws/chat.js'
import { loadConfig } from '../../server/config.js'
import { build, type Built } from '../helper.js'
import { epoch } from './tokens.js'

/** An HS256 token whose payload is exactly `payloadJson` (so it can hold 1e400, which JSON.stringify cannot). */
function rawToken (payloadJson: string, secret: string): string {
  const encode = (text: string): string => Buffer.from(text).toString('base64url')
  const input = `${encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${encode(payloadJson)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** A token with exactly these claims (no iat/exp added). */
function exactToken (built: Built, claims: Record<string, unknown>): string {
  return rawToken(JSON.stringify(claims), built.app.config.jwtSecret)
}

const expOf = (token: string): number => (createDecoder()(token) as { exp: number }).exp

const bearer = (token: string): { headers: Record<string, string> } => ({ headers: { authorization: `Bearer ${token}` } })

/** Resolves with the next JSON message of `type`. */
function nextOfType (ws: WebSocket, type: string): Promise<Record<string, unknown>> {
  return withTimeout(new Promise((resolve) => {
    const listener = (data: Buffer): void => {
      const message = JSON.parse(String(data)) as Record<string, unknown>
      if (message['type'] === type) { ws.off('message', listener); resolve(message) }
    }
    ws.on('message', listener)
  }), `for ${type}`)
}

async function post (built: Built, path: string, headers: Record<string, string>): Promise<{ status: number, body: Record<string, unknown> }> {
  return await withTimeout(new Promise((resolve, reject) => {
    const req = httpsRequest(`${built.url}${path}`, { method: 'POST', ca: built.ca, headers }, (res) => {
      let text = ''
      res.on('data', (chunk) => { text += String(chunk) })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }))
    })
    req.on('error', reject)
    req.end()
  }), `for POST ${path}`)
}

const BAD_ROOMS: Array<[string, unknown]> = [['a string', 'lobby'], ['null', null], ['an object', { lobby: true }], ['a number', 1], ['a boolean', true]]

t.test('a rooms claim of any type but a list of strings: 401 invalid_token on /ws/chat and /ws/feed', async (t) => {
  const built = await build(t)
  for (const [what, rooms] of BAD_ROOMS) {
    const token = built.token({ sub: 'alice', amr: ['mfa'], rooms })
    for (const path of ['/ws/chat/lobby', '/ws/feed']) {
      const refusal = await built.expectRefusal(path, { token })
      t.equal(refusal.status, 401, `${what} on ${path}`)
      t.equal(refusal.error, 'invalid_token', `${what} on ${path}`)
      t.match(refusal.message, /\/rooms/, 'the message names the claim')
    }
  }
  t.equal(built.handlerRuns('/ws/chat/:room'), 0, 'no chat handler ran')
  t.equal(built.handlerRuns('/ws/feed'), 0, 'no feed handler ran')
  // the well-typed claim still works
  const ws = await built.connect('/ws/chat/lobby', bearer(built.token({ sub: 'alice', rooms: ['lobby'] })))
  ws.close()
})

t.test('other claims of an unexpected type or unknown claims: 401 invalid_token', async (t) => {
  const built = await build(t)
  const cases: Array<[string, Record<string, unknown>]> = [
    ['amr as a string', { amr: 'mfa' }],
    ['amr with a number', { amr: ['mfa', 1] }],
    ['scope as a list', { scope: ['read'] }],
    ['a room name the route cannot have', { amr: ['mfa'], rooms: ['Lobby!'] }],
    ['an unknown claim', { amr: ['mfa'], admin: true }],
    ['sub as a number', { sub: 7 }]
  ]
  for (const [what, claims] of cases) {
    const refusal = await built.expectRefusal('/ws/feed', { token: built.token({ sub: 'alice', ...claims } as { sub: string }) })
    t.same([refusal.status, refusal.error], [401, 'invalid_token'], what)
  }
})

t.test('the route alone fails closed: without a claims schema, a mistyped rooms claim enters no room', async (t) => {
  const server = await tetherTest(t, { routes: async (app) => { await app.register(chat) } })
  for (const [what, rooms] of BAD_ROOMS) {
    const refusal = await server.expectRefusal('/ws/chat/lobby', { token: server.sign({ sub: 'alice', rooms }) })
    t.same([refusal.status, refusal.error], [403, 'room_not_allowed'], what)
  }
  const refusal = await server.expectRefusal('/ws/chat/lobby', { token: server.sign({ sub: 'alice', rooms: ['kitchen'] }) })
  t.same([refusal.status, refusal.error], [403, 'room_not_allowed'], 'a room outside the list')
  const client = await server.connect('/ws/chat/lobby', { token: server.sign({ sub: 'alice', rooms: ['lobby'] }) })
  client.close()
})

t.test('exp 1e400 (Infinity) is refused: on the upgrade, for a ticket, and on auth.refresh', async (t) => {
  const built = await build(t, { config: { feedIntervalMs: 60_000 } })
  const secret = built.app.config.jwtSecret
  const infinite = rawToken(`{"sub":"alice","amr":["mfa"],"iat":${epoch()},"exp":1e400}`, secret)
  for (const path of ['/ws/feed', '/ws/chat/lobby']) {
    const refusal = await built.expectRefusal(path, { token: infinite })
    t.same([refusal.status, refusal.error], [401, 'invalid_token'], path)
    t.match(refusal.message, /expiry/)
  }
  // The ticket endpoint authenticates with the same checks: no ticket for it.
  const issued = await post(built, '/auth/ticket', { authorization: `Bearer ${infinite}` })
  t.same([issued.status, issued.body['error']], [401, 'invalid_token'], 'POST /auth/ticket refuses it')
  // A host-issued ticket carrying an infinite exp is checked when redeemed.
  const ticket = built.ticket({ sub: 'alice', amr: ['mfa'], exp: Number.POSITIVE_INFINITY })
  const byTicket = await built.expectRefusal('/ws/feed', { ticket })
  t.same([byTicket.status, byTicket.error], [401, 'invalid_token'], 'a ticket carrying exp Infinity')
  // auth.refresh with it closes the connection; it is never answered "exp":null.
  const ws = await built.connect('/ws/feed', bearer(built.token({ sub: 'alice', amr: ['mfa'] })))
  const seen: string[] = []
  ws.on('message', (data) => seen.push(String(data)))
  const closed = waitClose(ws)
  ws.send(JSON.stringify({ type: 'auth.refresh', token: infinite }))
  t.same(await closed, { code: 1008, reason: 'the token has no valid expiry' })
  t.notOk(seen.some((m) => m.includes('auth.refreshed')), 'no auth.refreshed was sent')
})

t.test('the lifetime cap: exp too far from now, or exp - iat too long, is refused with 401', async (t) => {
  const built = await build(t)
  t.equal(built.app.tether.settings.maxTokenLifetimeS, 86_400, 'the default is 24 h')
  const tooFar = exactToken(built, { sub: 'alice', amr: ['mfa'], exp: epoch(2 * 86_400) })
  const refusal = await built.expectRefusal('/ws/feed', { token: tooFar })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
  t.match(refusal.message, /at most 86400 s/)
  const tooLong = exactToken(built, { sub: 'alice', amr: ['mfa'], iat: epoch(-86_400), exp: epoch(120) })
  const second = await built.expectRefusal('/ws/feed', { token: tooLong })
  t.same([second.status, second.error], [401, 'invalid_token'])
  t.match(second.message, /exp - iat/)
  const ws = await built.connect('/ws/feed', bearer(exactToken(built, { sub: 'alice', amr: ['mfa'], iat: epoch(), exp: epoch(86_000) })))
  ws.close()
})

t.test('MAX_TOKEN_LIFETIME_S lowers the cap, for the upgrade and for auth.refresh', async (t) => {
  t.equal(loadConfig({ MAX_TOKEN_LIFETIME_S: '3600' }).tether.maxTokenLifetimeS, 3600)
  t.throws(() => loadConfig({ MAX_TOKEN_LIFETIME_S: 'a day' }), ConfigError)
  t.throws(() => loadConfig({ MAX_TOKEN_LIFETIME_S: '0' }), ConfigError)
  const built = await build(t, { tether: { maxTokenLifetimeS: 60 }, config: { feedIntervalMs: 60_000 } })
  const refusal = await built.expectRefusal('/ws/feed', { token: built.token({ sub: 'alice', amr: ['mfa'] }, 300) })
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
  t.match(refusal.message, /at most 60 s/)
  const ws = await built.connect('/ws/feed', bearer(built.token({ sub: 'alice', amr: ['mfa'] }, 30)))
  const refreshed = nextOfType(ws, 'auth.refreshed')
  const fresh = built.token({ sub: 'alice', amr: ['mfa'] }, 50)
  ws.send(JSON.stringify({ type: 'auth.refresh', token: fresh }))
  t.equal((await refreshed)['exp'], expOf(fresh), 'a token within the cap refreshes')
  const closed = waitClose(ws)
  ws.send(JSON.stringify({ type: 'auth.refresh', token: built.token({ sub: 'alice', amr: ['mfa'] }, 600) }))
  const close = await closed
  t.equal(close.code, 1008, 'a token over the cap closes the connection')
  t.match(close.reason, /at most 60 s/)
})

t.test('auth.refresh on /ws/chat re-runs the route\'s authorization: a token that no longer allows the room closes 1008', async (t) => {
  const built = await build(t)
  const ws = await built.connect('/ws/chat/lobby', bearer(built.token({ sub: 'alice', rooms: ['lobby', 'kitchen'] })))
  const refreshed = nextOfType(ws, 'auth.refreshed')
  const narrower = built.token({ sub: 'alice', rooms: ['lobby'] }, 400)
  ws.send(JSON.stringify({ type: 'auth.refresh', token: narrower }))
  t.equal((await refreshed)['exp'], expOf(narrower), 'a token still allowing the room refreshes')
  const closed = waitClose(ws)
  ws.send(JSON.stringify({ type: 'auth.refresh', token: built.token({ sub: 'alice', rooms: ['kitchen'] }, 500) }))
  t.same(await closed, { code: 1008, reason: 'forbidden: room_not_allowed' })

  // A mistyped rooms claim on refresh is refused by the schema, before the route looks at it.
  for (const [what, rooms] of BAD_ROOMS) {
    const member = await built.connect('/ws/chat/lobby', bearer(built.token({ sub: 'bob', rooms: ['lobby'] })))
    const gone = waitClose(member)
    member.send(JSON.stringify({ type: 'auth.refresh', token: built.token({ sub: 'bob', rooms }, 400) }))
    const close = await gone
    t.equal(close.code, 1008, `rooms as ${what} on refresh`)
    t.match(close.reason, /\/rooms/)
  }
})

t.test('the claims option applies to every scheme (a custom one here) and is validated at registration', async (t) => {
  const claimsOf: { value: unknown } = { value: null }
  const scheme: AuthScheme = { name: 'fixed', authenticate: () => claimsOf.value }
  const schema = Type.Object({ sub: Type.String(), exp: Type.Number(), rooms: Type.Optional(Type.Array(Type.String())) })
  const server = await tetherTest(t, {
    tether: { auth: scheme, claims: schema },
    routes (app) { app.ws('/who', async (connection) => { await connection.send(connection.user.sub) }) }
  })
  claimsOf.value = { sub: 'alice', exp: epoch(60), rooms: 'lobby' }
  const refusal = await server.expectRefusal('/who')
  t.same([refusal.status, refusal.error], [401, 'invalid_token'])
  claimsOf.value = { sub: 'alice', exp: epoch(60), rooms: ['lobby'] }
  const client = await server.connect('/who')
  t.equal(await client.next(), 'alice')

  const bare = Fastify()
  t.teardown(() => bare.close())
  await t.rejects(async () => { await bare.register(tetherPlugin, { claims: schema }) }, ConfigError, 'claims needs auth')
  const other = Fastify()
  t.teardown(() => other.close())
  await t.rejects(async () => { await other.register(tetherPlugin, { auth: jwtAuth({ secret: 'x'.repeat(32) }), claims: { type: 'object' } as never }) }, ConfigError, 'claims must be a TypeBox schema')
})
