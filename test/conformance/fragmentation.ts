import type { Test } from 'tap'
import type { Built } from '../helper.js'
import { assertEchoes, assertFailed, openEcho, serverFrame } from './harness.js'
import { closePayload, encodeFrame, Opcode } from './raw-client.js'

/** Autobahn category 5: fragmented messages, and control frames between fragments (RFC 6455 section 5.4). */
export function fragmentation (t: Test, server: Built): void {
  t.test('a text message in three fragments echoes as one message', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Text, fin: false, payload: 'Hello, ' }),
      encodeFrame({ opcode: Opcode.Continuation, fin: false, payload: 'fragmented ' }),
      encodeFrame({ opcode: Opcode.Continuation, payload: 'world' })
    ]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Text, 'Hello, fragmented world'))
  })

  t.test('a binary message in two fragments echoes as one binary message', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Binary, fin: false, payload: Buffer.from([0, 1, 2]) }),
      encodeFrame({ opcode: Opcode.Continuation, payload: Buffer.from([253, 254, 255]) })
    ]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Binary, Buffer.from([0, 1, 2, 253, 254, 255])))
  })

  t.test('a text message of three empty fragments echoes as one empty text message', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Text, fin: false }),
      encodeFrame({ opcode: Opcode.Continuation, fin: false }),
      encodeFrame({ opcode: Opcode.Continuation })
    ]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Text, ''))
  })

  t.test('fragments sent in three separate writes still assemble', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Text, fin: false, payload: 'one ' })
    client.sendFrame({ opcode: Opcode.Continuation, fin: false, payload: 'two ' })
    client.sendFrame({ opcode: Opcode.Continuation, payload: 'three' })
    t.same(await client.nextFrame(), serverFrame(Opcode.Text, 'one two three'))
  })

  t.test('a fragmented message written one byte per TLS record still assembles', async (t) => {
    const client = await openEcho(t, server)
    const bytes = Buffer.concat([
      encodeFrame({ opcode: Opcode.Text, fin: false, payload: 'byte ' }),
      encodeFrame({ opcode: Opcode.Continuation, payload: 'by byte' })
    ])
    for (const byte of bytes) client.write(Buffer.from([byte]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Text, 'byte by byte'))
  })

  t.test('pings between fragments are answered at once and the message still assembles (section 5.4)', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Text, fin: false, payload: 'frag' }),
      encodeFrame({ opcode: Opcode.Ping, payload: 'ping 1' }),
      encodeFrame({ opcode: Opcode.Continuation, fin: false, payload: 'men' }),
      encodeFrame({ opcode: Opcode.Ping, payload: 'ping 2' }),
      encodeFrame({ opcode: Opcode.Continuation, payload: 'ted' })
    ]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Pong, 'ping 1'))
    t.same(await client.nextFrame(), serverFrame(Opcode.Pong, 'ping 2'))
    t.same(await client.nextFrame(), serverFrame(Opcode.Text, 'fragmented'))
  })

  t.test('a ping between fragments is answered before the message is complete', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Binary, fin: false, payload: Buffer.from([1]) })
    client.sendFrame({ opcode: Opcode.Ping, payload: 'while open' })
    t.same(await client.nextFrame(), serverFrame(Opcode.Pong, 'while open'))
    client.sendFrame({ opcode: Opcode.Continuation, payload: Buffer.from([2]) })
    t.same(await client.nextFrame(), serverFrame(Opcode.Binary, Buffer.from([1, 2])))
  })

  t.test('an unsolicited pong between fragments is ignored and the message still assembles', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Text, fin: false, payload: 'frag' }),
      encodeFrame({ opcode: Opcode.Pong, payload: 'unsolicited' }),
      encodeFrame({ opcode: Opcode.Continuation, payload: 'mented' })
    ]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Text, 'fragmented'))
  })

  t.test('a continuation frame (FIN=1) with nothing to continue is refused with 1002', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Continuation, payload: 'orphan' })
    await assertFailed(t, client, 1002)
  })

  t.test('a continuation frame (FIN=0) with nothing to continue is refused with 1002', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Continuation, fin: false, payload: 'orphan' })
    await assertFailed(t, client, 1002)
  })

  t.test('a continuation frame after a finished message is refused with 1002', async (t) => {
    const client = await openEcho(t, server)
    await assertEchoes(t, client, 'finished')
    client.sendFrame({ opcode: Opcode.Continuation, payload: 'orphan' })
    await assertFailed(t, client, 1002)
  })

  t.test('a new text frame while a fragmented message is open is refused with 1002', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Text, fin: false, payload: 'open' }),
      encodeFrame({ opcode: Opcode.Text, payload: 'interloper' })
    ]))
    await assertFailed(t, client, 1002)
  })

  t.test('a new binary frame while a fragmented text message is open is refused with 1002', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Text, fin: false, payload: 'open' }),
      encodeFrame({ opcode: Opcode.Binary, fin: false, payload: Buffer.from([1]) })
    ]))
    await assertFailed(t, client, 1002)
  })

  t.test('a fragmented ping (FIN=0) is refused with 1002 and gets no pong (section 5.5)', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Ping, fin: false, payload: 'frag' }),
      encodeFrame({ opcode: Opcode.Continuation, payload: 'mented' })
    ]))
    await assertFailed(t, client, 1002)
  })

  t.test('a fragmented pong (FIN=0) is refused with 1002', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Pong, fin: false, payload: 'frag' }),
      encodeFrame({ opcode: Opcode.Continuation, payload: 'mented' })
    ]))
    await assertFailed(t, client, 1002)
  })

  t.test('a fragmented close (FIN=0) is refused with 1002', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Close, fin: false, payload: closePayload(1000) })
    await assertFailed(t, client, 1002)
  })

  t.test('two fragmented messages in a row echo as two messages, in order', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Text, fin: false, payload: 'first ' }),
      encodeFrame({ opcode: Opcode.Continuation, payload: 'message' }),
      encodeFrame({ opcode: Opcode.Binary, fin: false, payload: Buffer.from([1]) }),
      encodeFrame({ opcode: Opcode.Continuation, payload: Buffer.from([2]) })
    ]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Text, 'first message'))
    t.same(await client.nextFrame(), serverFrame(Opcode.Binary, Buffer.from([1, 2])))
  })
}
