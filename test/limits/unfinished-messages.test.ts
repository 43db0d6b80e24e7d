import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import t, { type Test } from 'tap'
import { TETHER_DEFAULTS } from 'fastify-tether'
import { tetherTest, withTimeout } from 'fastify-tether/testing'
import { encodeFrame, Opcode, openRaw, type RawClient, type RawTarget } from '../conformance/raw-client.js'

const echo = { auth: false } as const

/** The resident set of a process, from /proc/<pid>/status. */
function rssBytes (pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (match === null) throw new Error(`no VmRSS for process ${pid}`)
  return Number(match[1]) * 1024
}

/** Starts test/limits/support/memory-server.ts in a process of its own: a tether echo server. */
async function startServer (t: Test, options: Record<string, unknown>): Promise<RawTarget & { pid: number, alive: () => boolean }> {
  const child = spawn(process.execPath, ['--conditions=tether-source', '--import', 'tsx', join(import.meta.dirname, 'support', 'memory-server.ts'), JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const [line] = await withTimeout(once(createInterface({ input: child.stdout }), 'line'), 'for the server process', 20_000) as [string]
  const { port, ca } = JSON.parse(line) as RawTarget
  return { port, ca, pid: child.pid as number, alive: () => child.exitCode === null && child.signalCode === null }
}

/** Sends a ping and waits for its pong: every frame written before it has been parsed by then. */
async function roundTrip (client: RawClient, ms = 10_000): Promise<void> {
  const payload = Buffer.from(String(Math.random()))
  client.sendFrame({ opcode: Opcode.Ping, payload })
  const frame = await client.nextFrame(ms)
  if (frame.opcode !== Opcode.Pong || !frame.payload.equals(payload)) throw new Error(`expected the pong, got opcode ${frame.opcode}`)
}

t.test('120 connections each holding an unfinished message of the worst legal shape stay within a bound', async (t) => {
  // The worst a client may do under the defaults: maxFragments - 1 frames, each written on its
  // own (its own TLS record), together just under maxPayloadBytes, and never the last fragment.
  const connections = 120
  const frames = TETHER_DEFAULTS.maxFragments - 1
  const fragmentBytes = Math.floor((TETHER_DEFAULTS.maxPayloadBytes - 1) / frames)
  // Bound: four times the payload limit per connection for its unfinished message (measured:
  // 85-165 KB; before the fix a message of 16,000 one-byte fragments held 2.4 MB, 150x its payload).
  const boundPerConnection = 4 * TETHER_DEFAULTS.maxPayloadBytes
  const server = await startServer(t, {})
  const control = await openRaw(t, server, '/ws/echo')
  await roundTrip(control)
  // The per-IP cap (100) and handshake rate (120/min) hold: the clients come from four addresses.
  const clients: RawClient[] = []
  for (let i = 0; i < connections; i++) {
    clients.push(await openRaw(t, server, '/ws/echo', { localAddress: `127.0.0.${2 + (i % 4)}`, ms: 10_000 }))
  }
  await Promise.all(clients.map(async (client) => { await roundTrip(client) }))
  const before = rssBytes(server.pid)
  await Promise.all(clients.map(async (client) => {
    for (let i = 0; i < frames; i++) {
      client.write(encodeFrame({ opcode: i === 0 ? Opcode.Text : Opcode.Continuation, fin: false, payload: Buffer.alloc(fragmentBytes, 0x61) }))
      if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve))
    }
    await roundTrip(client)
  }))
  const growth = rssBytes(server.pid) - before
  t.comment(`RSS growth ${(growth / 1024 / 1024).toFixed(1)} MB for ${connections} unfinished messages of ${frames} x ${fragmentBytes} bytes: ${Math.round(growth / connections / 1024)} KB each`)
  t.ok(growth < connections * boundPerConnection, `RSS grew ${growth} bytes, under ${connections} x ${boundPerConnection}`)
  // Every attacker is still connected (its message is legal so far) and the server still echoes.
  t.equal(clients.filter((client) => client.unread.length > 0).length, 0, 'no attacker was closed')
  control.sendFrame({ opcode: Opcode.Text, payload: 'still here' })
  const reply = await control.nextFrame()
  t.equal(reply.payload.toString(), 'still here')
  t.ok(server.alive(), 'the server process is alive')
})

t.test('the fragment that passes maxFragments closes with 1008', async (t) => {
  const { port, ca, app } = await tetherTest(t, { routes (app) { app.ws('/test/echo', echo, async (connection) => { await connection.closed }) } })
  const client = await openRaw(t, { port, ca }, '/test/echo')
  for (let i = 0; i <= TETHER_DEFAULTS.maxFragments; i++) {
    client.sendFrame({ opcode: i === 0 ? Opcode.Text : Opcode.Continuation, fin: false, payload: 'a' })
  }
  const close = await client.waitClose()
  t.equal(close.code, 1008)
  t.equal(app.tether.serverCloses['1008'], 1)
})

t.test('a message not finished within messageTimeoutMs closes with 1008, logged and counted', async (t) => {
  const { port, ca, app, logs } = await tetherTest(t, {
    tether: { messageTimeoutMs: 200 },
    routes (app) { app.ws('/test/echo', echo, async (connection) => { for await (const message of connection.messages()) await connection.send(message) }) }
  })
  const client = await openRaw(t, { port, ca }, '/test/echo')
  client.sendFrame({ opcode: Opcode.Text, fin: false, payload: 'never finished' })
  const close = await client.waitClose(2_000)
  t.same(close, { code: 1008, reason: 'message timeout' })
  client.destroy()
  await logs.waitFor((line) => line.msg === 'closing connection' && line['code'] === 1008 && line['reason'] === 'message timeout', 'the closing line')
  const closed = await logs.waitFor((line) => line.msg === 'websocket closed', 'the closed line')
  t.equal(closed['closedBy'], 'server')
  t.equal(app.tether.serverCloses['1008'], 1)
})

t.test('a frame whose payload never completes times out too; finished messages do not', async (t) => {
  const { port, ca } = await tetherTest(t, {
    tether: { messageTimeoutMs: 200 },
    routes (app) { app.ws('/test/echo', { ...echo, messageRate: false }, async (connection) => { for await (const message of connection.messages()) await connection.send(message) }) }
  })
  const calm = await openRaw(t, { port, ca }, '/test/echo')
  const slow = await openRaw(t, { port, ca }, '/test/echo')
  // A header announcing 100 bytes, then 10 of them.
  slow.write(encodeFrame({ opcode: Opcode.Text, payload: 'x'.repeat(100) }).subarray(0, 2 + 4 + 10))
  // Meanwhile the calm client sends whole messages, each answered, for longer than the timeout.
  const started = performance.now()
  let echoed = 0
  while (performance.now() - started < 500) {
    calm.sendFrame({ opcode: Opcode.Text, payload: `m${echoed}` })
    if ((await calm.nextFrame()).payload.toString() !== `m${echoed}`) break
    echoed++
    await new Promise((resolve) => setImmediate(resolve))
  }
  t.ok(echoed > 10, `the calm client kept its echo (${echoed} messages)`)
  t.same(await slow.waitClose(2_000), { code: 1008, reason: 'message timeout' })
  calm.sendFrame({ opcode: Opcode.Text, payload: 'still open' })
  t.equal((await calm.nextFrame()).payload.toString(), 'still open')
})

t.test('over a pressure limit an upgrade gets 503 overloaded; open connections stay', async (t) => {
  const { connect, app } = await tetherTest(t, {
    routes (app) { app.ws('/test/echo', echo, async (connection) => { for await (const message of connection.messages()) await connection.send(message) }) }
  })
  const open = await connect('/test/echo')
  const overloaded = await tetherTest(t, {
    tether: { pressure: { maxHeapUsedBytes: 1 } },
    routes (app) { app.ws('/test/echo', echo, async (connection) => { await connection.closed }) }
  })
  const refusal = await overloaded.expectRefusal('/test/echo')
  t.equal(refusal.status, 503)
  t.equal(refusal.error, 'overloaded')
  t.equal(overloaded.app.tether.refusals['overloaded'], 1)
  await overloaded.logs.waitFor((line) => line.msg === 'overloaded: refusing upgrades' && line['limit'] === 'maxHeapUsedBytes', 'the overload warning')
  // The defaults never refuse a process at rest; `pressure: false` turns the guard off.
  open.send('hello')
  t.equal(await open.next(), 'hello')
  t.equal(app.tether.refusals['overloaded'], undefined)
  const off = await tetherTest(t, { tether: { pressure: false }, routes (app) { app.ws('/test/echo', echo, async (connection) => { await connection.closed }) } })
  await off.connect('/test/echo')
  t.equal(off.app.tether.refusals['overloaded'], undefined)
})
