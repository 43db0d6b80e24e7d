import type { Test } from 'tap'
import { encodeFrame, FrameParser, Opcode } from './raw-client.js'

/** The raw client itself: it must write exactly the bytes asked for, or the other tests prove nothing. */
export function rawClientChecks (t: Test): void {
  t.test('encodes 125, 126 and 65536 byte payloads with the 7-, 16- and 64-bit lengths', async (t) => {
    const key = Buffer.from([1, 2, 3, 4])
    t.same([...encodeFrame({ opcode: Opcode.Text, payload: Buffer.alloc(125), maskKey: key }).subarray(0, 2)], [0x81, 0x80 | 125])
    t.same([...encodeFrame({ opcode: Opcode.Binary, payload: Buffer.alloc(126), maskKey: key }).subarray(0, 4)], [0x82, 0xfe, 0x00, 0x7e])
    t.same([...encodeFrame({ opcode: Opcode.Binary, payload: Buffer.alloc(65_536), maskKey: key }).subarray(0, 10)],
      [0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0])
    t.equal(encodeFrame({ opcode: Opcode.Binary, payload: Buffer.alloc(65_536), maskKey: key }).length, 10 + 4 + 65_536)
  })

  t.test('masks the payload with the key and writes exactly the bits it is given', async (t) => {
    const frame = encodeFrame({ opcode: Opcode.Ping, fin: false, rsv1: true, rsv3: true, payload: 'ab', maskKey: Buffer.from([0xff, 0, 0xff, 0]) })
    t.same([...frame], [0x59, 0x82, 0xff, 0, 0xff, 0, 0x61 ^ 0xff, 0x62])
    t.same([...encodeFrame({ opcode: Opcode.Text, payload: 'ab', mask: false })], [0x81, 0x02, 0x61, 0x62])
    t.same([...encodeFrame({ opcode: Opcode.Binary, mask: false, announcedLength: 70_000 })], [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0x11, 0x70])
  })

  t.test('parses a frame delivered one byte at a time, and unmasks a masked one', async (t) => {
    const parser = new FrameParser()
    const bytes = encodeFrame({ opcode: Opcode.Binary, payload: Buffer.alloc(300, 7) })
    const frames = [...bytes].flatMap((byte) => parser.push(Buffer.from([byte])))
    t.same(frames, [{ fin: true, rsv: 0, opcode: Opcode.Binary, masked: true, payload: Buffer.alloc(300, 7) }])
    t.equal(parser.pendingBytes, 0)
  })
}
