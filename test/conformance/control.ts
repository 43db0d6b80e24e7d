import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import type { Built } from '../helper.js'
import { assertEchoes, assertFailed, openEcho, serverFrame } from './harness.js'
import { encodeFrame, Opcode } from './raw-client.js'

/** Autobahn category 2: a ping gets a pong with its payload, control frames hold at most 125 bytes (RFC 6455 section 5.5). */
export function pingPong (t: Test, server: Built): void {
  t.test('a ping without payload gets a pong without payload', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Ping })
    t.same(await client.nextFrame(), serverFrame(Opcode.Pong, ''))
  })

  t.test('a ping with a text payload gets a pong with the same payload (section 5.5.3)', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Ping, payload: 'Hello, world!' })
    t.same(await client.nextFrame(), serverFrame(Opcode.Pong, 'Hello, world!'))
  })

  t.test('a ping with 125 binary bytes, the most a control frame holds, gets a pong with the same bytes', async (t) => {
    const client = await openEcho(t, server)
    const payload = randomBytes(125)
    client.sendFrame({ opcode: Opcode.Ping, payload })
    t.same(await client.nextFrame(), serverFrame(Opcode.Pong, payload))
  })

  t.test('a ping with 126 bytes is refused with 1002 and gets no pong (section 5.5)', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Ping, payload: Buffer.alloc(126, 1) })
    await assertFailed(t, client, 1002)
  })

  t.test('a ping header announcing a 16-bit length is refused with 1002 before any body arrives', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Ping, announcedLength: 126 })
    await assertFailed(t, client, 1002)
  })

  t.test('a pong with 126 bytes is refused with 1002', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Pong, payload: Buffer.alloc(126, 1) })
    await assertFailed(t, client, 1002)
  })

  t.test('a ping written one byte per TLS record gets its pong', async (t) => {
    const client = await openEcho(t, server)
    for (const byte of encodeFrame({ opcode: Opcode.Ping, payload: 'chopped' })) client.write(Buffer.from([byte]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Pong, 'chopped'))
  })

  t.test('an unsolicited pong without payload is ignored and the connection still echoes', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Pong })
    await assertEchoes(t, client)
  })

  t.test('an unsolicited pong with a payload is ignored and the connection still echoes', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Pong, payload: 'unsolicited' })
    await assertEchoes(t, client)
  })

  t.test('an unsolicited pong then a ping get exactly one pong, for the ping', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Pong, payload: 'unsolicited' }),
      encodeFrame({ opcode: Opcode.Ping, payload: 'solicited' })
    ]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Pong, 'solicited'))
    await assertEchoes(t, client)
  })

  t.test('ten pings in one write get ten pongs, in order', async (t) => {
    const client = await openEcho(t, server)
    const payloads = Array.from({ length: 10 }, (_, i) => `ping ${i}`)
    client.write(Buffer.concat(payloads.map((payload) => encodeFrame({ opcode: Opcode.Ping, payload }))))
    for (const payload of payloads) t.same(await client.nextFrame(), serverFrame(Opcode.Pong, payload))
  })
}
