import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect, type TLSSocket } from 'node:tls'
import { WAIT_MS, withTimeout, type TestContext, onTestEnd } from 'fastify-tether/testing'

/**
 * A raw RFC 6455 client for conformance tests: it writes exactly the bytes a test asks for (valid or
 * not) over real TLS with the dev CA pinned, and parses what the server sends back frame by frame.
 * Autobahn|Testsuite cannot run here; this is the part of it the tests need.
 */

/** The opcodes of RFC 6455 section 5.2; 0x3-0x7 and 0xB-0xF are reserved. */
export const Opcode = Object.freeze({
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa
})

/** The GUID of RFC 6455 section 1.3, appended to Sec-WebSocket-Key to compute Sec-WebSocket-Accept. */
const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true })

/** One frame as a test wants it written. Every field but `opcode` has the default of a valid frame. */
export interface FrameSpec {
  opcode: number
  /** Default true. */
  fin?: boolean
  rsv1?: boolean
  rsv2?: boolean
  rsv3?: boolean
  /** Default empty; a string is written as UTF-8. */
  payload?: Buffer | string
  /** Default true: RFC 6455 section 5.3 requires client frames to be masked. */
  mask?: boolean
  /** Four bytes; default random. */
  maskKey?: Buffer
  /** The length written in the header when it must differ from the payload's (a lying header). */
  announcedLength?: number
}

/** One frame the server sent, as parsed. */
export interface Frame {
  fin: boolean
  /** RSV1-RSV3 as a 3-bit number (RSV1 = 4); 0 unless an extension was negotiated. */
  rsv: number
  opcode: number
  /** Server frames must not be masked (RFC 6455 section 5.1); a masked one is unmasked here. */
  masked: boolean
  payload: Buffer
}

/**
 * How the connection ended, as RFC 6455 section 7.1.5 defines the close code: the code of the
 * server's close frame, 1005 when that frame had no payload, 1006 when the TCP connection ended
 * without a close frame.
 */
export interface ServerClose {
  code: number
  reason: string
}

/** The server's answer to the upgrade request. */
export interface UpgradeResponse {
  status: number
  /** Header names in lower case; repeated headers joined with ', '. */
  headers: Record<string, string>
}

/** Encodes one frame (RFC 6455 section 5.2), using the shortest of the 7-, 16- and 64-bit lengths. */
export function encodeFrame (spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : spec.payload ?? Buffer.alloc(0)
  const mask = spec.mask ?? true
  const length = spec.announcedLength ?? payload.length
  const head: number[] = [
    ((spec.fin ?? true) ? 0x80 : 0) | (spec.rsv1 === true ? 0x40 : 0) | (spec.rsv2 === true ? 0x20 : 0) |
      (spec.rsv3 === true ? 0x10 : 0) | (spec.opcode & 0x0f)
  ]
  const maskBit = mask ? 0x80 : 0
  let extended = Buffer.alloc(0)
  if (length < 126) {
    head.push(maskBit | length)
  } else if (length <= 0xffff) {
    head.push(maskBit | 126)
    extended = Buffer.alloc(2)
    extended.writeUInt16BE(length)
  } else {
    head.push(maskBit | 127)
    extended = Buffer.alloc(8)
    extended.writeBigUInt64BE(BigInt(length))
  }
  if (!mask) return Buffer.concat([Buffer.from(head), extended, payload])
  const key = spec.maskKey ?? randomBytes(4)
  if (key.length !== 4) throw new RangeError(`a mask key is 4 bytes, got ${key.length}`)
  const masked = Buffer.alloc(payload.length)
  for (let i = 0; i < payload.length; i++) masked[i] = (payload[i] as number) ^ (key[i % 4] as number)
  return Buffer.concat([Buffer.from(head), extended, key, masked])
}

/** The payload of a close frame: a 2-byte code, then the reason (RFC 6455 section 5.5.1). */
export function closePayload (code: number, reason: Buffer | string = ''): Buffer {
  const head = Buffer.alloc(2)
  head.writeUInt16BE(code)
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason) : reason])
}

/** Incremental parser of a byte stream into frames; it accepts masked frames so tests can see them. */
export class FrameParser {
  #buffered: Buffer = Buffer.alloc(0)

  /** Appends bytes; returns every frame they complete, in order. */
  push (chunk: Buffer): Frame[] {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk])
    const frames: Frame[] = []
    for (;;) {
      const frame = this.#take()
      if (frame === null) return frames
      frames.push(frame)
    }
  }

  /** Bytes received that do not yet form a whole frame. */
  get pendingBytes (): number {
    return this.#buffered.length
  }

  #take (): Frame | null {
    const bytes = this.#buffered
    if (bytes.length < 2) return null
    const first = bytes[0] as number
    const second = bytes[1] as number
    const masked = (second & 0x80) !== 0
    let offset = 2
    let length = second & 0x7f
    if (length === 126) {
      if (bytes.length < 4) return null
      length = bytes.readUInt16BE(2)
      offset = 4
    } else if (length === 127) {
      if (bytes.length < 10) return null
      const big = bytes.readBigUInt64BE(2)
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`frame length ${big} is beyond what a test can hold`)
      length = Number(big)
      offset = 10
    }
    const keyAt = offset
    if (masked) offset += 4
    if (bytes.length < offset + length) return null
    const payload = Buffer.from(bytes.subarray(offset, offset + length))
    if (masked) {
      for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (bytes[keyAt + (i % 4)] as number)
    }
    this.#buffered = bytes.subarray(offset + length)
    return { fin: (first & 0x80) !== 0, rsv: (first >> 4) & 0x07, opcode: first & 0x0f, masked, payload }
  }
}

/** Where the server listens: what {@link build} returns is enough. */
export interface RawTarget {
  port: number
  /** PEM of the CA the server certificate chains to. */
  ca: string
}

/** A connection after a successful upgrade: write any bytes, read the server's frames. */
export class RawClient {
  /** The 101 response, already checked. */
  readonly response: UpgradeResponse
  readonly #socket: TLSSocket
  readonly #parser = new FrameParser()
  readonly #frames: Frame[] = []
  readonly #closed: Promise<void>
  #ended = false
  #failure: Error | null = null
  #wake: (() => void) | null = null

  constructor (socket: TLSSocket, response: UpgradeResponse, leftover: Buffer) {
    this.#socket = socket
    this.response = response
    this.#closed = new Promise((resolve) => { socket.once('close', () => resolve()) })
    socket.on('data', (chunk: Buffer) => this.#receive(chunk))
    socket.on('end', () => this.#end())
    socket.on('close', () => this.#end())
    // A reset while a test is still writing (the server failed the connection) is an end like any
    // other; the test asserts on the close frame that came before it.
    socket.on('error', () => this.#end())
    if (leftover.length > 0) this.#receive(leftover)
    socket.resume()
  }

  /** Writes one frame exactly as specified, valid or not. */
  sendFrame (spec: FrameSpec): void {
    this.write(encodeFrame(spec))
  }

  /** Writes arbitrary bytes; once the connection is destroyed they are dropped. */
  write (bytes: Buffer): void {
    if (!this.#socket.destroyed) this.#socket.write(bytes)
  }

  /** The next frame the server sent; rejects if the connection ends first. */
  async nextFrame (ms = WAIT_MS): Promise<Frame> {
    const frame = await this.#next(ms, 'for the next frame')
    if (frame === null) throw new Error('the connection ended before another frame arrived')
    return frame
  }

  /**
   * The close the server sent (see {@link ServerClose}). The next frame must be a close frame or
   * the end of the connection: any other frame rejects, so nothing unexpected goes unnoticed.
   */
  async waitClose (ms = WAIT_MS): Promise<ServerClose> {
    const frame = await this.#next(ms, 'for a close frame')
    if (frame === null) return { code: 1006, reason: '' }
    if (frame.opcode !== Opcode.Close) {
      throw new Error(`expected a close frame, got opcode ${frame.opcode} with ${frame.payload.length} bytes`)
    }
    if (frame.payload.length === 0) return { code: 1005, reason: '' }
    if (frame.payload.length === 1) throw new Error('the server sent a close frame with a 1-byte payload')
    // A server's close reason must be UTF-8 too (RFC 6455 section 5.5.1): decode it strictly.
    return { code: frame.payload.readUInt16BE(0), reason: STRICT_UTF8.decode(frame.payload.subarray(2)) }
  }

  /** Resolves once the TCP connection is closed, by either side. */
  async waitEnd (ms = WAIT_MS): Promise<void> {
    await withTimeout(this.#closed, 'for the TCP connection to end', ms)
  }

  /** Frames received but not yet read, without consuming them. */
  get unread (): readonly Frame[] {
    return this.#frames
  }

  /** Closes the TCP connection at once. */
  destroy (): void {
    this.#socket.destroy()
  }

  /** The next frame, or null once the connection has ended with no frame left. */
  async #next (ms: number, what: string): Promise<Frame | null> {
    if (this.#wake !== null) throw new Error('only one read at a time')
    return await withTimeout(new Promise<Frame | null>((resolve, reject) => {
      const check = (): boolean => {
        if (this.#failure !== null) { reject(this.#failure); return true }
        const frame = this.#frames.shift()
        if (frame !== undefined) { resolve(frame); return true }
        if (this.#ended) { resolve(null); return true }
        return false
      }
      if (check()) return
      this.#wake = () => { if (check()) this.#wake = null }
    }), what, ms).finally(() => { this.#wake = null })
  }

  #receive (chunk: Buffer): void {
    try {
      this.#frames.push(...this.#parser.push(chunk))
    } catch (error) {
      this.#failure = error as Error
      this.#socket.destroy()
    }
    this.#wake?.()
  }

  #end (): void {
    this.#ended = true
    this.#wake?.()
  }
}

/** Options of {@link openRaw}. */
export interface OpenOptions {
  /** Extra request headers, written as given (for example Sec-WebSocket-Extensions). */
  headers?: Record<string, string>
  ms?: number
  /** The local address to connect from (any 127.0.0.x on Linux), to spread clients over source IPs. */
  localAddress?: string
}

/**
 * Opens a TLS connection to `target` (CA pinned, SNI `localhost`), sends an HTTP/1.1 upgrade for
 * `path` and checks the answer as RFC 6455 section 4.1 asks of a client: status 101, `Upgrade:
 * websocket`, `Connection: Upgrade` and the Sec-WebSocket-Accept of section 4.2.2. The socket is
 * destroyed when the test ends.
 */
export async function openRaw (t: TestContext, target: RawTarget, path: string, options: OpenOptions = {}): Promise<RawClient> {
  const ms = options.ms ?? WAIT_MS
  const socket = connect({ host: '127.0.0.1', port: target.port, ca: target.ca, servername: 'localhost', ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) })
  onTestEnd(t, () => { socket.destroy() })
  await withTimeout(once(socket, 'secureConnect'), 'for the TLS handshake', ms)
  const key = randomBytes(16).toString('base64')
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: localhost:${target.port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...Object.entries(options.headers ?? {}).map(([name, value]) => `${name}: ${value}`)
  ]
  socket.write(`${lines.join('\r\n')}\r\n\r\n`)
  try {
    const { head, leftover } = await withTimeout(readHead(socket), 'for the upgrade response', ms)
    const response = parseHead(head)
    checkUpgrade(response, key, Object.keys(options.headers ?? {}).map((name) => name.toLowerCase()))
    return new RawClient(socket, response, leftover)
  } catch (error) {
    socket.destroy()
    throw error
  }
}

/** The client's checks of RFC 6455 section 4.1 (the numbered list after "the client MUST validate"). */
function checkUpgrade (response: UpgradeResponse, key: string, offered: string[]): void {
  const { status, headers } = response
  if (status !== 101) throw new Error(`expected 101 Switching Protocols, got ${status}`)
  if (headers['upgrade']?.toLowerCase() !== 'websocket') {
    throw new Error(`expected Upgrade: websocket, got ${headers['upgrade'] ?? 'none'}`)
  }
  const connection = (headers['connection'] ?? '').toLowerCase().split(',').map((token) => token.trim())
  if (!connection.includes('upgrade')) throw new Error(`expected Connection: Upgrade, got ${headers['connection'] ?? 'none'}`)
  const accept = createHash('sha1').update(key + ACCEPT_GUID).digest('base64')
  if (headers['sec-websocket-accept'] !== accept) {
    throw new Error(`expected Sec-WebSocket-Accept ${accept}, got ${headers['sec-websocket-accept'] ?? 'none'}`)
  }
  // An extension or subprotocol the client did not offer must not be in the answer.
  for (const name of ['sec-websocket-extensions', 'sec-websocket-protocol']) {
    if (headers[name] !== undefined && !offered.includes(name)) {
      throw new Error(`the server answered ${name}: ${headers[name]} without an offer`)
    }
  }
}

/** Reads up to the blank line ending the response head; what follows it is already WebSocket data. */
function readHead (socket: TLSSocket): Promise<{ head: string, leftover: Buffer }> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk])
      const end = received.indexOf('\r\n\r\n')
      if (end === -1) return
      cleanup()
      // Stop the flow so no frame is emitted before the RawClient listens.
      socket.pause()
      resolve({ head: received.subarray(0, end).toString('latin1'), leftover: received.subarray(end + 4) })
    }
    const onEnd = (): void => { cleanup(); reject(new Error('the connection ended before the upgrade response')) }
    const onError = (error: Error): void => { cleanup(); reject(error) }
    const cleanup = (): void => {
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('error', onError)
    }
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('error', onError)
  })
}

function parseHead (head: string): UpgradeResponse {
  const [statusLine = '', ...headerLines] = head.split('\r\n')
  const status = /^HTTP\/1\.1 (\d{3})/.exec(statusLine)
  if (status === null) throw new Error(`not an HTTP/1.1 status line: ${statusLine}`)
  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  return { status: Number(status[1]), headers }
}
