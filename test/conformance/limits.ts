import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { TETHER_DEFAULTS } from 'fastify-tether'
import type { Built } from '../helper.js'
import { assertEchoes, assertFailed, openEcho, serverFrame, sharedServer } from './harness.js'
import { encodeFrame, Opcode } from './raw-client.js'

/** The small maxPayloadBytes most limit tests use, so that they stay fast. */
const MAX = 1024

// tether bounds the number of fragments of one message (its maxFragments, 128, passed to ws, whose
// own default of 16,384 let one message of one-byte fragments hold megabytes); one more fails the
// connection with 1008 (policy violation, "Too many message fragments"). RFC 6455 sets no such
// bound, and lets an endpoint fail a connection whose resources it will not spend (section 10.4);
// 1008 is its generic policy code.
const MAX_FRAGMENTS = TETHER_DEFAULTS.maxFragments

/** `count` fragments of one byte each, forming one text message of `count` bytes of 'x'. */
function oneByteFragments (count: number): Buffer {
  const first = encodeFrame({ opcode: Opcode.Text, fin: false, payload: 'x' })
  const middle = encodeFrame({ opcode: Opcode.Continuation, fin: false, payload: 'x' })
  const last = encodeFrame({ opcode: Opcode.Continuation, payload: 'x' })
  return Buffer.concat([first, ...Array<Buffer>(count - 2).fill(middle), last])
}

/**
 * Autobahn category 9, up to the configured maximum: maxPayloadBytes bounds a whole message, after
 * reassembly of its fragments; a larger one fails the connection with 1009 (RFC 6455 section 7.4.1:
 * "a message that is too big for it to process"). `defaults` runs with the default settings; a
 * second server with maxPayloadBytes = 1024 is started here.
 */
export async function limits (t: Test, defaults: Built): Promise<void> {
  const small = await sharedServer(t, { tether: { maxPayloadBytes: MAX } })

  t.test('a single frame of exactly maxPayloadBytes echoes back intact', async (t) => {
    const client = await openEcho(t, small)
    const payload = randomBytes(MAX)
    client.sendFrame({ opcode: Opcode.Binary, payload })
    t.same(await client.nextFrame(), serverFrame(Opcode.Binary, payload))
  })

  t.test('a single frame of the default maxPayloadBytes (64 KiB) echoes back intact', async (t) => {
    t.equal(defaults.app.tether.settings.maxPayloadBytes, 65_536)
    const client = await openEcho(t, defaults)
    const payload = Buffer.alloc(65_536, 'limit ')
    client.sendFrame({ opcode: Opcode.Text, payload })
    t.same(await client.nextFrame(), serverFrame(Opcode.Text, payload))
  })

  t.test('a single frame of maxPayloadBytes + 1 is refused with 1009', async (t) => {
    const client = await openEcho(t, small)
    client.sendFrame({ opcode: Opcode.Binary, payload: randomBytes(MAX + 1) })
    await assertFailed(t, client, 1009)
  })

  t.test('a frame of the default maxPayloadBytes + 1 is refused with 1009', async (t) => {
    const client = await openEcho(t, defaults)
    client.sendFrame({ opcode: Opcode.Text, payload: Buffer.alloc(65_537, 'x') })
    await assertFailed(t, client, 1009)
  })

  t.test('a header announcing maxPayloadBytes + 1 with no body is refused with 1009 at once', async (t) => {
    const client = await openEcho(t, small)
    // Only the header and mask key are written: the close proves the length alone was judged.
    client.sendFrame({ opcode: Opcode.Binary, announcedLength: MAX + 1 })
    await assertFailed(t, client, 1009)
  })

  t.test('a header announcing 2^53 bytes with no body is refused with 1009 at once', async (t) => {
    const client = await openEcho(t, defaults)
    client.sendFrame({ opcode: Opcode.Binary, announcedLength: 2 ** 53 })
    await assertFailed(t, client, 1009)
  })

  t.test('a 64-bit length with its most significant bit set is refused with 1009 at once', async (t) => {
    // RFC 6455 section 5.2 requires that bit to be 0, so this is also a malformed frame; the RFC lets
    // the endpoint pick the close code (section 7.1.7) and ws judges it by size, as too big.
    const client = await openEcho(t, defaults)
    client.sendFrame({ opcode: Opcode.Binary, announcedLength: 2 ** 63 })
    await assertFailed(t, client, 1009)
  })

  t.test('a fragmented message of exactly maxPayloadBytes echoes as one message', async (t) => {
    const client = await openEcho(t, small)
    const payload = randomBytes(MAX)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Binary, fin: false, payload: payload.subarray(0, 500) }),
      encodeFrame({ opcode: Opcode.Continuation, fin: false, payload: payload.subarray(500, 1000) }),
      encodeFrame({ opcode: Opcode.Continuation, payload: payload.subarray(1000) })
    ]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Binary, payload))
  })

  t.test('a fragmented message whose total exceeds maxPayloadBytes is refused with 1009', async (t) => {
    const client = await openEcho(t, small)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Binary, fin: false, payload: randomBytes(600) }),
      encodeFrame({ opcode: Opcode.Continuation, payload: randomBytes(MAX + 1 - 600) })
    ]))
    await assertFailed(t, client, 1009)
  })

  t.test('the second fragment header that takes a message past the limit is refused at once', async (t) => {
    const client = await openEcho(t, small)
    client.sendFrame({ opcode: Opcode.Binary, fin: false, payload: randomBytes(600) })
    client.sendFrame({ opcode: Opcode.Continuation, announcedLength: MAX + 1 - 600 })
    await assertFailed(t, client, 1009)
  })

  t.test('pings between fragments do not count toward the message size', async (t) => {
    const client = await openEcho(t, small)
    const payload = randomBytes(MAX)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Binary, fin: false, payload: payload.subarray(0, 1000) }),
      encodeFrame({ opcode: Opcode.Ping, payload: Buffer.alloc(125, 1) }),
      encodeFrame({ opcode: Opcode.Continuation, payload: payload.subarray(1000) })
    ]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Pong, Buffer.alloc(125, 1)))
    t.same(await client.nextFrame(), serverFrame(Opcode.Binary, payload))
  })

  t.test('the limit is per message: two messages of maxPayloadBytes each both echo', async (t) => {
    const client = await openEcho(t, small)
    const first = randomBytes(MAX)
    const second = randomBytes(MAX)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Binary, payload: first }),
      encodeFrame({ opcode: Opcode.Binary, payload: second })
    ]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Binary, first))
    t.same(await client.nextFrame(), serverFrame(Opcode.Binary, second))
  })

  t.test(`${MAX_FRAGMENTS} one-byte fragments (maxFragments) echo as one ${MAX_FRAGMENTS}-byte message`, async (t) => {
    const client = await openEcho(t, defaults)
    client.write(oneByteFragments(MAX_FRAGMENTS))
    t.same(await client.nextFrame(), serverFrame(Opcode.Text, Buffer.alloc(MAX_FRAGMENTS, 'x')))
  })

  t.test(`${MAX_FRAGMENTS + 1} one-byte fragments of a message under the size limit are refused with 1008`, async (t) => {
    const client = await openEcho(t, defaults)
    client.write(oneByteFragments(MAX_FRAGMENTS + 1))
    await assertFailed(t, client, 1008)
  })

  t.test('20,000 one-byte fragments of a message under the size limit are refused with 1008, and the server stays healthy', async (t) => {
    const client = await openEcho(t, defaults)
    client.write(oneByteFragments(20_000))
    await assertFailed(t, client, 1008)
    const next = await openEcho(t, defaults)
    await assertEchoes(t, next)
  })

  t.test('fragments adding up past a 1 KiB limit are refused with 1009, and the server stays healthy', async (t) => {
    const client = await openEcho(t, small)
    const fragment = 'x'.repeat(60)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Text, fin: false, payload: fragment }),
      ...Array.from({ length: 20 }, () => encodeFrame({ opcode: Opcode.Continuation, fin: false, payload: fragment }))
    ]))
    await assertFailed(t, client, 1009)
    const next = await openEcho(t, small)
    await assertEchoes(t, next)
  })
}
