import type { Test } from 'tap'
import type { Built } from '../helper.js'
import { assertEchoes, assertFailed, openEcho } from './harness.js'
import { closePayload, encodeFrame, Opcode } from './raw-client.js'

/** Autobahn category 7: the closing handshake, close payloads and close codes (RFC 6455 sections 5.5.1 and 7). */
export function closeHandling (t: Test, server: Built): void {
  t.test('a close 1000 gets a close 1000 with the same reason back, then the server ends the TCP connection', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Close, payload: closePayload(1000, 'bye') })
    t.same(await client.waitClose(), { code: 1000, reason: 'bye' })
    await client.waitEnd()
    t.same(client.unread, [], 'nothing after the close frame')
  })

  t.test('a message echoed before the close arrives before the close reply', async (t) => {
    const client = await openEcho(t, server)
    await assertEchoes(t, client, 'first')
    client.sendFrame({ opcode: Opcode.Close, payload: closePayload(1000) })
    t.same(await client.waitClose(), { code: 1000, reason: '' })
    await client.waitEnd()
  })

  t.test('a close with an empty payload gets a close with an empty payload back (1005: no status)', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Close })
    t.same(await client.waitClose(), { code: 1005, reason: '' })
    await client.waitEnd()
  })

  t.test('a close with a 1-byte payload is refused with 1002 (section 5.5.1: a code is 2 bytes)', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Close, payload: Buffer.from([0x03]) })
    await assertFailed(t, client, 1002)
  })

  t.test('a close with a 123-byte reason, the most that fits, is answered with the same code and reason', async (t) => {
    const client = await openEcho(t, server)
    const reason = 'r'.repeat(123)
    client.sendFrame({ opcode: Opcode.Close, payload: closePayload(1000, reason) })
    t.same(await client.waitClose(), { code: 1000, reason })
    await client.waitEnd()
  })

  t.test('a close with a 124-byte reason (a 126-byte control frame) is refused with 1002', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Close, payload: closePayload(1000, 'r'.repeat(124)) })
    await assertFailed(t, client, 1002)
  })

  t.test('a close with a reason that is not valid UTF-8 is refused with 1007 (section 8.1)', async (t) => {
    const client = await openEcho(t, server)
    // "κόσμε" followed by an encoded UTF-16 surrogate (ED A0 80), Autobahn 7.5.1.
    const reason = Buffer.concat([Buffer.from('κόσμε'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('edited')])
    client.sendFrame({ opcode: Opcode.Close, payload: closePayload(1000, reason) })
    await assertFailed(t, client, 1007)
  })

  t.test('an unmasked close is refused with 1002', async (t) => {
    const client = await openEcho(t, server)
    client.sendFrame({ opcode: Opcode.Close, payload: closePayload(1000), mask: false })
    await assertFailed(t, client, 1002)
  })

  t.test('a text message after the close frame is never echoed (section 5.5.1)', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Close, payload: closePayload(1000) }),
      encodeFrame({ opcode: Opcode.Text, payload: 'too late' })
    ]))
    t.same(await client.waitClose(), { code: 1000, reason: '' })
    await client.waitEnd()
    t.same(client.unread, [], 'no echo after the close frame')
  })

  t.test('a ping after the close frame gets no pong', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Close, payload: closePayload(1000) }),
      encodeFrame({ opcode: Opcode.Ping, payload: 'too late' })
    ]))
    t.same(await client.waitClose(), { code: 1000, reason: '' })
    await client.waitEnd()
    t.same(client.unread, [], 'no pong after the close frame')
  })

  t.test('a second close frame is ignored: exactly one close comes back', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Close, payload: closePayload(1000, 'first') }),
      encodeFrame({ opcode: Opcode.Close, payload: closePayload(1001, 'second') })
    ]))
    t.same(await client.waitClose(), { code: 1000, reason: 'first' })
    await client.waitEnd()
    t.same(client.unread, [], 'one close frame only')
  })

  t.test('a close in the middle of a fragmented message is answered and the message is dropped', async (t) => {
    const client = await openEcho(t, server)
    client.write(Buffer.concat([
      encodeFrame({ opcode: Opcode.Text, fin: false, payload: 'frag' }),
      encodeFrame({ opcode: Opcode.Close, payload: closePayload(1000) }),
      encodeFrame({ opcode: Opcode.Continuation, payload: 'ment' })
    ]))
    t.same(await client.waitClose(), { code: 1000, reason: '' })
    await client.waitEnd()
    t.same(client.unread, [], 'no echo of the unfinished message')
  })

  // RFC 6455 section 7.4: 1000-1003 and 1007-1011 are defined; 1012-1014 were registered with IANA
  // since (section 11.7); 3000-4999 belong to libraries and applications.
  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
    t.test(`a close with valid code ${code} is answered with the same code`, async (t) => {
      const client = await openEcho(t, server)
      client.sendFrame({ opcode: Opcode.Close, payload: closePayload(code) })
      t.same(await client.waitClose(), { code, reason: '' })
      await client.waitEnd()
    })
  }

  // 1004-1006 and 1015 are reserved and must not be sent (1005, 1006, 1015 are local-only); 0-999
  // are unused; 1016-2999 are unassigned in the RFC's range; nothing above 4999 is defined.
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65_535]) {
    t.test(`a close with invalid code ${code} is refused with 1002`, async (t) => {
      const client = await openEcho(t, server)
      client.sendFrame({ opcode: Opcode.Close, payload: closePayload(code) })
      await assertFailed(t, client, 1002)
    })
  }
}
