import { createDecoder } from 'fast-jwt'
import t from 'tap'
import type { WebSocket } from 'ws'
import { build } from '../helper.js'
import { waitClose, withTimeout } from 'fastify-tether/testing'
import { epoch, forgeToken } from './tokens.js'

interface FeedMessage { type: string, seq?: number, at?: string, exp?: number }

function record (ws: WebSocket): FeedMessage[] {
  const messages: FeedMessage[] = []
  ws.on('message', (data) => messages.push(JSON.parse(String(data)) as FeedMessage))
  return messages
}

/** Resolves with the first message matching `match`, past or future. */
function waitMessage (ws: WebSocket, seen: FeedMessage[], match: (m: FeedMessage) => boolean, what: string): Promise<FeedMessage> {
  const found = seen.find(match)
  if (found !== undefined) return Promise.resolve(found)
  return withTimeout(new Promise((resolve) => {
    const listener = (data: Buffer): void => {
      const message = JSON.parse(String(data)) as FeedMessage
      if (match(message)) { ws.off('message', listener); resolve(message) }
    }
    ws.on('message', listener)
  }), what)
}

t.test('a token that expires during the connection closes it with 1008, and nothing is sent after exp', async (t) => {
  const built = await build(t, { config: { feedIntervalMs: 20 } })
  // 1-2 s ahead: at least a full second for the upgrade, however late in the current second it starts
  const exp = epoch(2)
  const token = forgeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', amr: ['mfa'], exp }, built.app.config.jwtSecret)
  const ws = await built.connect('/ws/feed', { headers: { authorization: `Bearer ${token}` } })
  const messages = record(ws)
  const closed = await waitClose(ws, 4_000)
  t.same(closed, { code: 1008, reason: 'token expired' })
  for (const message of messages) {
    t.ok(Date.parse(message.at ?? '') < exp * 1000, `tick ${message.seq ?? '?'} was sent before exp`)
  }
  await built.logs.waitFor((l) => l.msg === 'closing connection: token expired', 'the expiry log line')
})

t.test('auth.refresh before exp keeps the connection open past the first exp', async (t) => {
  const built = await build(t, { config: { feedIntervalMs: 20 } })
  const firstExp = epoch(2) // 1-2 s ahead, so the upgrade never races the expiry
  const first = forgeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', amr: ['mfa'], exp: firstExp }, built.app.config.jwtSecret)
  const ws = await built.connect('/ws/feed', { headers: { authorization: `Bearer ${first}` } })
  const messages = record(ws)
  const second = built.token({ sub: 'alice', amr: ['mfa'] }, 60)
  const secondExp = (createDecoder()(second) as { exp: number }).exp
  ws.send(JSON.stringify({ type: 'auth.refresh', token: second }))
  const refreshed = await waitMessage(ws, messages, (m) => m.type === 'auth.refreshed', 'for auth.refreshed')
  t.same(refreshed, { type: 'auth.refreshed', exp: secondExp })
  const later = await waitMessage(ws, messages, (m) => m.type === 'tick' && Date.parse(m.at ?? '') > firstExp * 1000 + 200, 'for a tick past the first exp')
  t.ok(later, 'ticks keep coming after the first token expired')
  t.equal(ws.readyState, ws.OPEN)
  ws.close()
})

t.test('auth.refresh with a token for another sub closes with 1008', async (t) => {
  const built = await build(t, { config: { feedIntervalMs: 20 } })
  const ws = await built.connect('/ws/feed', { headers: { authorization: `Bearer ${built.token({ sub: 'alice', amr: ['mfa'] })}` } })
  const closed = waitClose(ws)
  ws.send(JSON.stringify({ type: 'auth.refresh', token: built.token({ sub: 'mallory', amr: ['mfa'] }) }))
  t.same(await closed, { code: 1008, reason: 'the new token is for another subject' })
})

t.test('auth.refresh with a token that fails the claims policy closes with 1008', async (t) => {
  const built = await build(t, { config: { feedIntervalMs: 20 } })
  const ws = await built.connect('/ws/feed', { headers: { authorization: `Bearer ${built.token({ sub: 'alice', amr: ['mfa'] })}` } })
  const closed = waitClose(ws)
  ws.send(JSON.stringify({ type: 'auth.refresh', token: built.token({ sub: 'alice', amr: ['pwd'] }) }))
  t.equal((await closed).code, 1008)
})

t.test('auth.refresh with an invalid token closes with 1008', async (t) => {
  const built = await build(t, { config: { feedIntervalMs: 20 } })
  const ws = await built.connect('/ws/feed', { headers: { authorization: `Bearer ${built.token({ sub: 'alice', amr: ['mfa'] })}` } })
  const closed = waitClose(ws)
  ws.send(JSON.stringify({ type: 'auth.refresh', token: 'garbage' }))
  t.same(await closed, { code: 1008, reason: 'the token is not valid' })
})
