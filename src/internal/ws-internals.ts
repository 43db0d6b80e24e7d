import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import * as wsModule from 'ws'
import type { WebSocket } from 'ws'

// Every use of ws's and @fastify/websocket's internals lives in this file, and
// test/unit/ws-internals.test.ts pins each one to the installed versions: when an upgrade changes
// one of them, that test fails first and names it.

/**
 * ws's frame builder; public in ws (the `Sender` export, `Sender.frame`) but missing from @types/ws.
 * Taken from the module's exports, not from `WebSocket.Sender`: ws's ESM entry does not set that
 * property, only its CommonJS entry does, so it exists only if something required ws first.
 */
interface FrameBuilder {
  frame: (data: Buffer, options: FrameOptions) => Buffer[]
}
interface FrameOptions { fin: boolean, opcode: number, mask: boolean, readOnly: boolean, rsv1: boolean }

const { Sender } = wsModule as unknown as { Sender: FrameBuilder }
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

/** The close code ws attached to a protocol error (its `status-code` symbol), if any. */
export function protocolCloseCode (error: Error): number | undefined {
  const symbol = Object.getOwnPropertySymbols(error).find((candidate) => candidate.description === 'status-code')
  const code = symbol === undefined ? undefined : (error as unknown as Record<symbol, unknown>)[symbol]
  return typeof code === 'number' ? code : undefined
}

/** The socket and first bytes of an upgrade request, as Node's 'upgrade' event gave them. */
export interface UpgradeStream {
  socket: Duplex
  head: Buffer
}

/**
 * The raw socket and head of an upgrade request that @fastify/websocket dispatched through the
 * router (it keeps them under its `ws-socket` and `ws-head` symbols), or undefined for a plain
 * request. Found by description, so a host's own copy of @fastify/websocket works too.
 */
export function upgradeStreamOf (request: IncomingMessage): UpgradeStream | undefined {
  let socket: unknown
  let head: unknown
  for (const symbol of Object.getOwnPropertySymbols(request)) {
    if (symbol.description === 'ws-socket') socket = (request as unknown as Record<symbol, unknown>)[symbol]
    else if (symbol.description === 'ws-head') head = (request as unknown as Record<symbol, unknown>)[symbol]
  }
  if (socket === undefined || socket === null) return undefined
  return { socket: socket as Duplex, head: Buffer.isBuffer(head) ? head : Buffer.alloc(0) }
}

/** The parts of ws's Receiver (`ws._receiver`) that tell whether a message is being received. */
interface ReceiverState {
  /** 0 (GET_INFO) between frames; any other state is inside a frame or its delivery. */
  _state: number
  /** Bytes received but not yet parsed: a partial frame. */
  _bufferedBytes: number
  /** The opcode of a fragmented message in progress, 0 when none. */
  _fragmented: number
}

/**
 * Whether ws is in the middle of an incoming message: a fragmented message awaits its last
 * fragment, or part of a frame is buffered. Read from ws's Receiver (its `_state`,
 * `_bufferedBytes` and `_fragmented` fields), since ws has no public way to tell.
 */
export function messageInProgress (ws: WebSocket): boolean {
  const receiver = (ws as unknown as { _receiver: ReceiverState | null })._receiver
  if (receiver === null || receiver === undefined) return false
  return receiver._fragmented !== 0 || receiver._bufferedBytes > 0 || receiver._state !== 0
}
