import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import type { Built } from '../helper.js'
import { assertEchoes, assertFailed, openEcho, serverFrame } from './harness.js'
import { encodeFrame, Opcode } from './raw-client.js'

/** Autobahn category 1: frame lengths in each of the three encodings (RFC 6455 section 5.2), and masking (section 5.3). */
export function framing (t: Test, server: Built): void {
  // 7-bit lengths up to 125, 16-bit from 126 to 65535, 64-bit from 65536 (RFC 6455 section 5.2);
  // 65536 is also the default maxPayloadBytes, so the largest case is exactly at the limit.
  const sizes = [0, 1, 125, 126, 127, 65_535, 65_536]
  for (const size of sizes) {
    t.test(`a ${size}-byte text frame echoes back exactly`, async (t) => {
      const client = await openEcho(t, server)
      const payload = Buffer.alloc(size, 'tether*')
      client.sendFrame({ opcode: Opcode.Text, payload })
      t.same(await client.nextFrame(), serverFrame(Opcode.Text, payload))
    })
    t.test(`a ${size}-byte binary frame echoes back exactly`, async (t) => {
      const client = await openEcho(t, server)
      const payload = randomBytes(size)
      client.sendFrame({ opcode: Opcode.Binary, payload })
      t.same(await client.nextFrame(), serverFrame(Opcode.Binary, payload))
    })
  }

  t.test('a frame written one byte per TLS record echoes back exactly', async (t) => {
    const client = await openEcho(t, server)
    for (const byte of encodeFrame({ opcode: Opcode.Text, payload: 'chopped' })) client.write(Buffer.from([byte]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Text, 'chopped'))
  })

  t.test('frames pipelined in one write echo in order', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Text, payload: 'one' }),
      encodeFrame({ opcode: Opcode.Binary, payload: Buffer.from([2]) }),
      encodeFrame({ opcode: Opcode.Text, payload: '' })
    ]))
    t.same(await client.nextFrame(), serverFrame(Opcode.Text, 'one'))
    t.same(await client.nextFrame(), serverFrame(Opcode.Binary, Buffer.from([2])))
    t.same(await client.nextFrame(), serverFrame(Opcode.Text, ''))
  })

  t.test('a frame masked with an all-zero key echoes (any 32-bit key is allowed)', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Text, payload: 'zero mask', maskKey: Buffer.alloc(4) })
    t.same(await client.nextFrame(), serverFrame(Opcode.Text, 'zero mask'))
  })

  t.test('an unmasked client frame is refused with 1002 (section 5.1)', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Text, payload: 'no mask', mask: false })
    await assertFailed(t, client, 1002)
  })

  t.test('an unmasked ping is refused with 1002 and never answered', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Ping, payload: 'no mask', mask: false })
    await assertFailed(t, client, 1002)
  })
}

/** Autobahn category 3: RSV1-RSV3 must be 0 unless an extension defines them (RFC 6455 section 5.2). */
export function reservedBits (t: Test, server: Built): void {
  const cases = [
    { name: 'RSV1', bits: { rsv1: true } },
    { name: 'RSV2', bits: { rsv2: true } },
    { name: 'RSV3', bits: { rsv3: true } },
    { name: 'RSV1 and RSV2', bits: { rsv1: true, rsv2: true } },
    { name: 'RSV1, RSV2 and RSV3', bits: { rsv1: true, rsv2: true, rsv3: true } }
  ]
  for (const { name, bits } of cases) {
    t.test(`a text frame with ${name} set is refused with 1002 (no extension was negotiated)`, async (t) => {
      const client = await openEcho(t, server)
      client.sendFrame({ opcode: Opcode.Text, payload: 'reserved', ...bits })
      await assertFailed(t, client, 1002)
    })
  }

  t.test('a binary frame with RSV3 set is refused with 1002', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Binary, payload: Buffer.from([1, 2, 3]), rsv3: true })
    await assertFailed(t, client, 1002)
  })

  t.test('a ping with RSV2 set is refused with 1002 and gets no pong', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Ping, payload: 'ping', rsv2: true })
    await assertFailed(t, client, 1002)
  })

  t.test('a close frame with RSV1 set is refused with 1002', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Close, payload: Buffer.from([0x03, 0xe8]), rsv1: true })
    await assertFailed(t, client, 1002)
  })

  t.test('a frame with RSV2 set after an echoed message is refused with 1002, and a ping after it is never answered', async (t) => {
    const client = await openEcho(t, server)
    await assertEchoes(t, client, 'before')
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Text, payload: 'bad', rsv2: true }),
      encodeFrame({ opcode: Opcode.Ping, payload: 'after' })
    ]))
    await assertFailed(t, client, 1002)
  })

  t.test('a message written together with a frame that has RSV2 set is not echoed: the failure closes first', async (t) => {
    // Autobahn 3.2 sends all three frames at once and rates a missing echo "non-strict"; RFC 6455
    // does not require it. ws reads the whole chunk and fails the connection (section 7.1.7) before
    // the handler's send() for the first message runs, and nothing is sent after a close frame.
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Text, payload: 'before' }),
      encodeFrame({ opcode: Opcode.Text, payload: 'bad', rsv2: true }),
      encodeFrame({ opcode: Opcode.Ping, payload: 'after' })
    ]))
    await assertFailed(t, client, 1002)
  })
}

/** Autobahn category 4: reserved opcodes 0x3-0x7 and 0xB-0xF fail the connection (RFC 6455 section 5.2). */
export function opcodes (t: Test, server: Built): void {
  for (const opcode of [3, 4, 5, 6, 7]) {
    t.test(`reserved non-control opcode ${opcode} is refused with 1002`, async (t) => {
      const client = await openEcho(t, server)
      client.sendFrame({ opcode, payload: 'reserved' })
      await assertFailed(t, client, 1002)
    })
  }
  for (const opcode of [11, 12, 13, 14, 15]) {
    t.test(`reserved control opcode ${opcode} is refused with 1002`, async (t) => {
      const client = await openEcho(t, server)
      client.sendFrame({ opcode, payload: 'reserved' })
      await assertFailed(t, client, 1002)
    })
  }

  t.test('a reserved opcode after an echoed message is refused with 1002, and a ping after it is never answered', async (t) => {
    const client = await openEcho(t, server)
    await assertEchoes(t, client, 'before')
    client.write(Buffer.concat([
      encodeFrame({ opcode: 0xb, payload: 'reserved' }),
      encodeFrame({ opcode: Opcode.Ping, payload: 'after' })
    ]))
    await assertFailed(t, client, 1002)
  })

  t.test('an empty frame with reserved opcode 5 is refused with 1002', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: 5 })
    await assertFailed(t, client, 1002)
  })
}
