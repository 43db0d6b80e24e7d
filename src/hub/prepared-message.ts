import { frameMessage } from '../internal/ws-internals.js'

/**
 * A text message serialized once and framed once, for fan-out: the same bytes are written to every
 * subscriber's socket, instead of each `send()` encoding and framing the message again. The frame
 * is built by ws itself (its `Sender.frame`), unmasked as server frames are (RFC 6455
 * section 5.1), in one buffer so each subscriber costs one write.
 */
export class PreparedMessage {
  /** The message text, for connections that must frame it themselves (permessage-deflate). */
  readonly text: string
  /** The complete WebSocket frame: header and payload. */
  readonly frame: Buffer
  /** The payload size in bytes. */
  readonly payloadBytes: number

  private constructor (text: string, payload: Buffer) {
    this.text = text
    this.payloadBytes = payload.length
    this.frame = Buffer.concat(frameMessage(payload, false))
  }

  /** Prepares a text message: a string as is, anything else as JSON. */
  static of (message: string | object): PreparedMessage {
    const text = typeof message === 'string' ? message : JSON.stringify(message)
    return new PreparedMessage(text, Buffer.from(text))
  }
}
