import type { IncomingMessage } from 'node:http'
import { WebSocket, type ClientOptions, type RawData } from 'ws'
import { WAIT_MS, waitEvent, withTimeout } from './waits.js'

/** A received message as the framework delivers it: text as string, binary as Buffer. */
export type Received = string | Buffer

/** The close code and reason the client saw. */
export interface ClientClose {
  code: number
  reason: string
}

/** What a refused upgrade looked like to the client. */
export interface Refusal {
  /** The HTTP status (401, 403, 429, ...). */
  status: number
  /** The `error` of the JSON body: the refusal's reason (`missing_token`, `mfa_required`, ...). */
  error: string
  /** The `message` of the JSON body. */
  message: string
  headers: IncomingMessage['headers']
  /** The parsed body (`{ error, message }` for tether's refusals). */
  body: Record<string, unknown>
}

function decode (data: RawData, isBinary: boolean): Received {
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer)
  return isBinary ? buffer : buffer.toString()
}

/** Resolves once the client is open; rejects on an error or an unexpected HTTP response. */
export async function waitOpen (ws: WebSocket, ms = WAIT_MS): Promise<void> {
  if (ws.readyState === WebSocket.OPEN) return
  await withTimeout(new Promise<void>((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode ?? ''}`)))
  }), 'for the socket to open', ms)
}

/** Collects the next `count` messages, in order; rejects if the socket closes first or time runs out. */
export function collect (ws: WebSocket, count: number, ms = WAIT_MS): Promise<Received[]> {
  return collectMatching(ws, count, (data, isBinary) => decode(data, isBinary), () => true, ms)
}

/** Collects the next `count` JSON messages that match, in order, ignoring the others. */
export function collectJson<T = Record<string, unknown>> (ws: WebSocket, count: number, match: (message: T) => boolean = () => true, ms = WAIT_MS): Promise<T[]> {
  return collectMatching(ws, count, (data, isBinary) => JSON.parse(String(decode(data, isBinary))) as T, match, ms)
}

function collectMatching<T> (ws: WebSocket, count: number, parse: (data: RawData, isBinary: boolean) => T, match: (message: T) => boolean, ms: number): Promise<T[]> {
  const received: T[] = []
  return withTimeout(new Promise((resolve, reject) => {
    const onMessage = (data: RawData, isBinary: boolean): void => {
      let message: T
      try {
        message = parse(data, isBinary)
      } catch (error) {
        cleanup()
        reject(error instanceof Error ? error : new Error(String(error)))
        return
      }
      if (!match(message)) return
      received.push(message)
      if (received.length === count) { cleanup(); resolve(received) }
    }
    const onClose = (code: number): void => {
      cleanup()
      reject(new Error(`socket closed with ${code} after ${received.length} of ${count} messages`))
    }
    const cleanup = (): void => { ws.off('message', onMessage); ws.off('close', onClose) }
    ws.on('message', onMessage)
    ws.on('close', onClose)
  }), `for ${count} messages`, ms)
}

/** Resolves with the close the client sees; bounded by `ms`. */
export async function waitClose (ws: WebSocket, ms = WAIT_MS): Promise<ClientClose> {
  if (ws.readyState === WebSocket.CLOSED) throw new Error('socket already closed before waiting')
  const [code, reason] = await waitEvent(ws, 'close', ms) as [number, Buffer]
  return { code, reason: reason.toString() }
}

/**
 * Attempts an upgrade that must be refused: resolves with the HTTP status and the refusal's body;
 * rejects if a socket opens or nothing answers in time.
 */
export async function attemptRefused (url: string, options: ClientOptions & { protocols?: string[] } = {}, ms = WAIT_MS): Promise<Refusal> {
  const { protocols, ...clientOptions } = options
  const ws = new WebSocket(url, protocols ?? [], clientOptions)
  try {
    const response = await withTimeout(new Promise<IncomingMessage>((resolve, reject) => {
      ws.once('unexpected-response', (_request, res) => resolve(res))
      ws.once('open', () => reject(new Error('the upgrade was accepted')))
      ws.once('error', reject)
    }), 'for the refusal', ms)
    let text = ''
    for await (const chunk of response) text += String(chunk)
    let body: Record<string, unknown> = {}
    try {
      body = JSON.parse(text) as Record<string, unknown>
    } catch {
      body = { text }
    }
    return {
      status: response.statusCode ?? 0,
      error: typeof body['error'] === 'string' ? body['error'] : '',
      message: typeof body['message'] === 'string' ? body['message'] : '',
      headers: response.headers,
      body
    }
  } finally {
    ws.terminate()
  }
}

/**
 * A connected test client: the `ws` socket with bounded waits for what a test asks next.
 * Messages are queued from the moment the socket opens, so none is missed between two waits.
 */
export class TestClient {
  /** The underlying `ws` client. */
  readonly ws: WebSocket
  readonly #queue: Received[] = []
  readonly #waiters: Array<{ resolve: (message: Received) => void, reject: (error: Error) => void }> = []
  readonly #closed: Promise<ClientClose>

  constructor (ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const message = decode(data, isBinary)
      const waiter = this.#waiters.shift()
      if (waiter !== undefined) waiter.resolve(message)
      else this.#queue.push(message)
    })
    this.#closed = new Promise((resolve) => {
      ws.once('close', (code: number, reason: Buffer) => {
        for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error(`socket closed with ${code} before the next message`))
        resolve({ code, reason: reason.toString() })
      })
    })
  }

  /** The subprotocol the server selected ('' for none). */
  get protocol (): string {
    return this.ws.protocol
  }

  /** The next message (text as string, binary as Buffer); rejects on close or after `ms`. */
  next (ms = WAIT_MS): Promise<Received> {
    const queued = this.#queue.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    if (this.ws.readyState >= WebSocket.CLOSING) return Promise.reject(new Error('socket closed before the next message'))
    return withTimeout(new Promise((resolve, reject) => { this.#waiters.push({ resolve, reject }) }), 'for the next message', ms)
  }

  /** The next message, parsed as JSON. */
  async nextJson<T = Record<string, unknown>> (ms = WAIT_MS): Promise<T> {
    return JSON.parse(String(await this.next(ms))) as T
  }

  /** The next JSON message that matches, skipping the others. */
  async nextJsonWhere<T = Record<string, unknown>> (match: (message: T) => boolean, ms = WAIT_MS): Promise<T> {
    const deadline = Date.now() + ms
    for (;;) {
      const message = await this.nextJson<T>(Math.max(1, deadline - Date.now()))
      if (match(message)) return message
    }
  }

  /** Sends a string (text frame), bytes (binary frame) or anything else as JSON text. */
  send (data: string | Buffer | Uint8Array | object): void {
    this.ws.send(typeof data === 'string' || data instanceof Uint8Array ? data : JSON.stringify(data))
  }

  /** Starts the closing handshake. */
  close (code?: number, reason?: string): void {
    this.ws.close(code, reason)
  }

  /** The close the client sees, with its code and reason; rejects after `ms`. */
  closed (ms = WAIT_MS): Promise<ClientClose> {
    return withTimeout(this.#closed, 'for the socket to close', ms)
  }
}
