import type { Test } from 'tap'
import type { Built } from '../helper.js'
import { assertEchoes, assertFailed, openEcho } from './harness.js'
import { Opcode } from './raw-client.js'

/**
 * Autobahn category 12, as it applies with compression off: an offer of permessage-deflate
 * (RFC 7692) is declined by leaving the extension out of the 101 (RFC 6455 section 9.1), so RSV1
 * keeps no meaning and a frame with it set fails the connection.
 */
export function permessageDeflate (t: Test, server: Built): void {
  t.test('an offer of permessage-deflate gets a 101 without Sec-WebSocket-Extensions', async (t) => {
    const client = await openEcho(t, server, { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' })
    t.equal(client.response.status, 101)
    t.equal(client.response.headers['sec-websocket-extensions'], undefined)
    await assertEchoes(t, client)
  })

  t.test('after that refused offer a frame with RSV1 set (a compressed frame) is refused with 1002', async (t) => {
    const client = await openEcho(t, server, { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' })
    // "Hello" compressed with DEFLATE, as in RFC 7692 section 7.2.3.1.
    client.sendFrame({ opcode: Opcode.Text, rsv1: true, payload: Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]) })
    await assertFailed(t, client, 1002)
  })
}
