import t from 'tap'
import type { WebSocket } from 'ws'
import { build, type Built } from '../helper.js'
import { collectJson, waitClose } from 'fastify-tether/testing'
import { attemptRefused } from '../security/refusal.js'

interface ChatEvent { type: string, id?: string, room?: string, from?: string, user?: string, text?: string, at?: string }

function join (built: Built, room: string, sub: string, claims: Record<string, unknown> = {}): Promise<WebSocket> {
  return built.connect(`/ws/chat/${room}`, { headers: { authorization: `Bearer ${built.token({ sub, ...claims })}` } })
}

t.test('three members each receive every said, in order; another room receives nothing', async (t) => {
  const built = await build(t)
  const alice = await join(built, 'lobby', 'alice')
  const bob = await join(built, 'lobby', 'bob')
  const carol = await join(built, 'lobby', 'carol')
  const dave = await join(built, 'elsewhere', 'dave')
  const daveSaw: ChatEvent[] = []
  dave.on('message', (m) => daveSaw.push(JSON.parse(String(m)) as ChatEvent))
  const received = [alice, bob, carol].map((ws) => collectJson<ChatEvent>(ws, 3, (e) => e.type === 'said'))
  alice.send(JSON.stringify({ type: 'say', text: 'one' }))
  bob.send(JSON.stringify({ type: 'say', text: 'two' }))
  alice.send(JSON.stringify({ type: 'say', text: 'three' }))
  const [aliceSaid, bobSaid, carolSaid] = await Promise.all(received)
  const sequence = (said: ChatEvent[] | undefined): string[] => (said ?? []).map((e) => `${e.from ?? ''}:${e.text ?? ''}`)
  t.same(sequence(bobSaid), sequence(aliceSaid), 'every member sees the same sequence')
  t.same(sequence(carolSaid), sequence(aliceSaid))
  t.same(sequence(aliceSaid).filter((s) => s.startsWith('alice:')), ['alice:one', 'alice:three'], 'one publisher\'s messages stay in order')
  t.same(sequence(aliceSaid).sort(), ['alice:one', 'alice:three', 'bob:two'], 'each message exactly once')
  const one = carolSaid?.find((e) => e.text === 'one')
  t.match(one, { type: 'said', room: 'lobby', from: 'alice', text: 'one' })
  t.match(one?.id, /^[0-9a-f-]{36}$/)
  t.equal(new Date(one?.at ?? '').toISOString(), one?.at)
  const probe = collectJson<ChatEvent>(dave, 1, (e) => e.type === 'said')
  dave.send(JSON.stringify({ type: 'say', text: 'anyone?' }))
  t.same((await probe).map((e) => [e.type, e.text]), [['said', 'anyone?']])
  t.notOk(daveSaw.some((e) => e.room === 'lobby'), 'nothing from lobby reached another room')
})

t.test('members see joined and left', async (t) => {
  const built = await build(t)
  const alice = await join(built, 'lobby', 'alice')
  const joined = collectJson<ChatEvent>(alice, 2, (e) => e.type === 'joined')
  const bob = await join(built, 'lobby', 'bob')
  t.same(await joined, [{ type: 'joined', room: 'lobby', user: 'alice' }, { type: 'joined', room: 'lobby', user: 'bob' }])
  const left = collectJson<ChatEvent>(alice, 1, (e) => e.type === 'left')
  bob.close()
  t.same(await left, [{ type: 'left', room: 'lobby', user: 'bob' }])
})

t.test('a bad room name: 400 invalid_room before the upgrade', async (t) => {
  const built = await build(t)
  for (const room of ['Lobby', 'a_b', 'x'.repeat(65), '%F0%9F%90%A2']) {
    const refusal = await attemptRefused(`${built.wsUrl}/ws/chat/${room}`, { ca: built.ca, headers: { authorization: `Bearer ${built.token({ sub: 'alice' })}` } })
    t.same([refusal.status, refusal.body.error], [400, 'invalid_room'], room)
  }
  t.equal(built.handlerRuns('/ws/chat/:room'), 0)
})

t.test('a rooms claim is enforced: 403 room_not_allowed for any other room', async (t) => {
  const built = await build(t)
  const headers = { authorization: `Bearer ${built.token({ sub: 'alice', rooms: ['lobby'] })}` }
  const refusal = await attemptRefused(`${built.wsUrl}/ws/chat/secret`, { ca: built.ca, headers })
  t.same([refusal.status, refusal.body.error], [403, 'room_not_allowed'])
  await built.connect('/ws/chat/lobby', { headers })
  t.equal(built.handlerRuns('/ws/chat/:room'), 1)
})

t.test('say is typed: empty or over 2000 characters gets invalid_message', async (t) => {
  const built = await build(t)
  const alice = await join(built, 'lobby', 'alice')
  const replies = collectJson<ChatEvent & { error?: string }>(alice, 2, (e) => e.type === 'error')
  alice.send(JSON.stringify({ type: 'say', text: '' }))
  alice.send(JSON.stringify({ type: 'say', text: 'x'.repeat(2001) }))
  t.same((await replies).map((e) => [e.type, e.error]), [['error', 'invalid_message'], ['error', 'invalid_message']])
})

t.test('a chat connection needs a token', async (t) => {
  const built = await build(t)
  const refusal = await attemptRefused(`${built.wsUrl}/ws/chat/lobby`, { ca: built.ca })
  t.same([refusal.status, refusal.body.error], [401, 'missing_token'])
  const ws = await join(built, 'lobby', 'alice')
  const closed = waitClose(ws)
  ws.close()
  await closed
})
