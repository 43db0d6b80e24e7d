import { WebSocket } from 'ws'

/** ws's frame builder; public in ws (`WebSocket.Sender.frame`) but missing from @types/ws. */
interface FrameBuilder {
  frame: (data: Buffer, options: FrameOptions) => Buffer[]
}
interface FrameOptions { fin: boolean, opcode: number, mask: boolean, readOnly: boolean, rsv1: boolean }

const { Sender } = WebSocket as unknown as { Sender: FrameBuilder }
// Server frames are never masked (RFC 6455 section 5.1); one complete message per frame.
const TEXT: FrameOptions = { fin: true, opcode: 0x01, mask: false, readOnly: true, rsv1: false }
const BINARY: FrameOptions = { fin: true, opcode: 0x02, mask: false, readOnly: true, rsv1: false }

/**
 * Frames one unmasked, unfragmented, uncompressed message with ws's own frame builder, as the
 * header and the payload buffers (the payload is not copied).
 */
export function frameMessage (payload: Buffer, binary: boolean): Buffer[] {
  return Sender.frame(payload, binary ? BINARY : TEXT)
}
