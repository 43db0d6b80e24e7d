import { randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import type { FastifyRequest } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import type { TokenClaims } from './auth/claims.js'
import { CloseCode, isSendableCloseCode } from './close-codes.js'
import { ConnectionClosedError, InvalidCloseCodeError, InvalidTokenError, SlowConsumerError, TetherError, TokenExpiredError } from './errors.js'
import type { Hub } from './hub/hub.js'
import type { PreparedMessage } from './hub/prepared-message.js'
import { FrameBatch } from './internal/frame-batch.js'
import { frameMessage, messageInProgress, protocolCloseCode } from './internal/ws-internals.js'
import type { JsonMessageCodec } from './json-messages.js'
import { MessageQueue } from './message-queue.js'
import type { TokenBucket } from './token-bucket.js'
import type { TetherRequest, WsRouteGeneric } from './types.js'

/** An incoming or outgoing message: text frames are strings, binary frames are bytes. */
export type Message = string | Buffer

/** How a connection ended, as reported by the closing handshake (1005 and 1006 are local-only). */
export interface CloseInfo {
  /** The close code the peer sent (or 1006 when the socket dropped without a close frame). */
  code: number
  /** The close reason, UTF-8 decoded; empty when none was given. */
  reason: string
  /** Whether a closing handshake completed (false for 1006). */
  wasClean: boolean
}

/** Counters of one connection, as logged when it ends. */
export interface ConnectionStats {
  messagesIn: number
  bytesIn: number
  messagesOut: number
  bytesOut: number
  /** Who started the closing handshake, `null` while the connection is open. */
  closedBy: 'server' | 'client' | null
}

/** The per-connection limits a {@link Connection} enforces (defaults in `TETHER_DEFAULTS`). */
export interface ConnectionLimits {
  sendHighWaterBytes: number
  maxBufferedBytes: number
  receiveHighWaterMessages: number
  receiveHighWaterBytes: number
}

/**
 * Verifies a replacement token for an open connection: same subject, still allowed by everything
 * the route checked before the upgrade. Throws a {@link TetherError} to refuse. Supplied by
 * `app.ws()` on routes with auth.
 */
export type Reauthenticate = (token: string, request: FastifyRequest) => Promise<TokenClaims>

/** What `app.ws()` hands a {@link Connection} besides the socket and the request. */
export interface ConnectionOptions {
  limits: ConnectionLimits
  /** Present on routes with auth: verifies `auth.refresh` tokens. */
  reauthenticate?: Reauthenticate
  /** Present on routes that declared `messages`: parses and validates JSON envelopes. */
  codec?: JsonMessageCodec
  /** Present unless the route disabled its message rate limit. */
  rate?: TokenBucket
  /** Consecutive invalid messages tolerated on a JSON route before closing with 1008. */
  maxInvalidMessages?: number
  /** Told about every close the server initiates (for counting by code). */
  onServerClose?: (code: number, reason: string) => void
  /** Told when a fan-out write closes this connection as a slow consumer (1013), before the close. */
  onSlowConsumer?: (bufferedBytes: number) => void
  /** The hub `subscribe()` uses, and the route's per-topic authorization. */
  topics?: { hub: Hub, authorize: TopicAuthorizer | undefined }
}

/**
 * A route's per-topic authorization: may this user (null on public routes) subscribe to `topic`?
 * Checked on every subscribe, so a user can never receive another user's topic.
 */
export type TopicAuthorizer = (user: TokenClaims | null, topic: string) => boolean

const OPEN = 1
const CLOSED = 3
// setTimeout cannot wait longer than 2^31-1 ms (about 24.8 days); longer deadlines re-arm.
const MAX_TIMER_MS = 2_147_483_647
const RESOLVED: Promise<void> = Promise.resolve()
const MAX_REASON_BYTES = 123 // RFC 6455 section 5.5: control frame payload <= 125, minus the 2-byte code

/**
 * One WebSocket connection, handed to a route handler by `app.ws()`. It lives exactly as long as
 * the socket: `signal` aborts and `messages()` ends when the closing handshake starts or the socket
 * drops, and `request` (with its id, logger, user and decorators) stays valid the whole time.
 */
export class Connection<TMessage = Message, RG extends WsRouteGeneric = WsRouteGeneric, User = TokenClaims | null> {
  /**
   * The upgrade request; valid for the whole life of the connection, its params typed by the
   * route and its `user` the verified claims (`null` on public routes).
   */
  readonly request: TetherRequest<RG, User>
  /** Aborted as soon as the connection starts closing, for any reason. */
  readonly signal: AbortSignal
  /** Settles once the socket is closed, with the code and reason of the closing handshake. */
  readonly closed: Promise<CloseInfo>
  /** `performance.now()` when the connection opened. */
  readonly openedAt: number

  readonly #ws: WebSocket
  /** This tick's frames, written as one buffer when the tick ends; undefined without a raw socket. */
  readonly #batch: FrameBatch | undefined
  readonly #limits: ConnectionLimits
  readonly #abort = new AbortController()
  readonly #queue: MessageQueue<TMessage>
  /** False from the moment the connection starts closing (cheaper to read than signal.aborted). */
  #open = true
  /** permessage-deflate was negotiated: prepared frames cannot be used as they are. */
  readonly #compressed: boolean
  #drain: Promise<void> | null = null
  /** Re-checks a pending drain wait: resolves it once the buffer is under the high-water mark. */
  #checkDrain: (() => void) | null = null
  #stats: ConnectionStats = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0, closedBy: null }
  readonly #options: ConnectionOptions
  #expiresAt = Number.POSITIVE_INFINITY
  #expiryTimer: NodeJS.Timeout | undefined
  #invalidInARow = 0
  #alive = true
  /** The payload of the last heartbeat ping: only a pong carrying it is a sign of life. */
  #pingPayload: Buffer | undefined
  /** When the message sweep first saw the current incoming message unfinished (`performance.now()`). */
  #messageSince: number | undefined
  /** `messagesIn` at that moment: a change means that message finished and another began. */
  #messageCount = 0

  constructor (ws: WebSocket, request: FastifyRequest, options: ConnectionOptions) {
    this.#ws = ws
    this.#compressed = ws.extensions !== ''
    this.#options = options
    this.request = request as unknown as TetherRequest<RG, User>
    this.#limits = options.limits
    this.openedAt = performance.now()
    this.signal = this.#abort.signal
    // The socket ws writes to: this tick's frames are written to it as one buffer (one TLS record).
    const socket = request.raw.socket as Duplex | undefined
    this.#batch = socket === undefined || this.#compressed
      ? undefined
      : new FrameBatch(socket, () => this.#ws.readyState === OPEN, () => this.#checkDrain?.())
    this.#queue = new MessageQueue<TMessage>(options.limits.receiveHighWaterMessages, {
      onFull: () => ws.pause(),
      onDrained: () => ws.resume()
    }, options.limits.receiveHighWaterBytes)
    // Listen before anything else runs, so no message is lost while the handler is busy elsewhere.
    ws.on('message', (data: RawData, isBinary: boolean) => this.#receive(data as Buffer, isBinary))
    // Control frames cost the server a parse and, for pings, a pong: they count against the
    // message rate like messages. Only the pong answering the server's own ping shows the peer
    // reads; unsolicited pongs cost budget and prove nothing.
    ws.on('ping', () => { this.#control() })
    ws.on('pong', (data: Buffer) => {
      if (this.#pingPayload !== undefined && data.equals(this.#pingPayload)) this.#alive = true
      this.#control()
    })
    // ws answers protocol errors itself (1002, 1007, 1009) and then emits 'error': count and log
    // those closes like any other the server initiates.
    ws.on('error', (error: Error) => {
      const code = protocolCloseCode(error)
      if (code === undefined || this.#stats.closedBy !== null) return
      this.#stats.closedBy = 'server'
      this.request.log.info({ code, reason: error.message, err: { code: (error as NodeJS.ErrnoException).code } }, 'closing connection')
      this.#options.onServerClose?.(code, error.message)
      this.#finish()
    })
    this.closed = new Promise((resolve) => {
      ws.once('close', (code: number, reason: Buffer) => {
        if (this.#stats.closedBy === null) this.#stats.closedBy = 'client'
        this.#finish()
        resolve({ code, reason: reason.toString(), wasClean: code !== CloseCode.Abnormal })
      })
    })
  }

  /** Whether messages can still be sent. */
  get isOpen (): boolean {
    return this.#open && this.#ws.readyState === OPEN
  }

  /** The verified claims of this connection (`request.user`); `null` on public routes. */
  get user (): User {
    return this.request.user
  }

  /** Bytes written to the connection but not yet handed to the kernel. */
  get bufferedBytes (): number {
    return this.#ws.bufferedAmount + (this.#batch?.bytes ?? 0)
  }

  /** A snapshot of the connection's counters. */
  get stats (): Readonly<ConnectionStats> {
    return { ...this.#stats }
  }

  /**
   * The incoming messages, in order: text as `string`, binary as `Buffer`. Messages that arrived
   * before the first read are buffered. Iteration ends when the connection closes. Breaking out of
   * the loop keeps unread messages for a later loop.
   */
  messages (): AsyncIterableIterator<TMessage> {
    return this.#queue
  }

  /**
   * Sends one message (a string as a text frame, bytes as a binary frame). Resolves once the message
   * is handed to the socket; while more than `sendHighWaterBytes` are buffered it waits for the
   * socket to drain first, so a peer that stops reading slows the sender instead of growing memory.
   * Rejects with {@link ConnectionClosedError} once the connection is closing or closed.
   */
  send (data: string | Uint8Array): Promise<void> {
    if (this.#drain !== null) return this.#drain.then(() => this.send(data))
    if (!this.isOpen || this.#expired()) return Promise.reject(new ConnectionClosedError())
    if (this.bufferedBytes > this.#limits.sendHighWaterBytes) {
      return this.#waitForDrain().then(() => this.send(data))
    }
    this.#write(data)
    return RESOLVED
  }

  /**
   * Writes one message without waiting, for fan-out from a service that cannot wait for one slow
   * peer. Returns false when the connection is closed; a connection already buffering more than
   * `maxBufferedBytes` is closed with 1013 (slow consumer) instead of buffering without bound.
   */
  push (data: string | Uint8Array): boolean {
    if (!this.#admitFanOut()) return false
    this.#write(data)
    return true
  }

  /**
   * Whether a fan-out write may go ahead: false when closed or expired; a connection already
   * buffering more than `maxBufferedBytes` (socket and held frames) is closed with 1013 instead.
   */
  #admitFanOut (): boolean {
    if (!this.isOpen || this.#expired()) return false
    const bufferedBytes = this.bufferedBytes
    if (bufferedBytes <= this.#limits.maxBufferedBytes) return true
    const error = new SlowConsumerError()
    this.request.log.warn({ bufferedBytes, code: error.closeCode }, 'closing slow consumer')
    this.#options.onSlowConsumer?.(bufferedBytes)
    this.close(error.closeCode, error.message)
    return false
  }

  /**
   * Writes a message prepared once for many connections (hub fan-out). Like {@link push}, it never
   * waits and cuts off a slow consumer with 1013. The frame goes to the socket as it is, unless this
   * connection negotiated permessage-deflate, where ws frames it.
   */
  pushPrepared (message: PreparedMessage): boolean {
    if (!this.#admitFanOut()) return false
    if (this.#batch === undefined) this.#write(message.text)
    else this.#hold(this.#batch, [message.frame], message.payloadBytes)
    return true
  }

  /**
   * Subscribes this connection to a hub topic until it unsubscribes or closes. If the route's
   * `authorizeTopic` refuses, the client gets `{"type":"error","error":"forbidden","topic":...}`,
   * nothing of the topic ever reaches it, and this returns false.
   */
  subscribe (topic: string): boolean {
    const topics = this.#options.topics
    if (topics === undefined) throw new TypeError('subscribe() needs the tether plugin\'s hub')
    if (topics.authorize !== undefined && !topics.authorize(this.request.user as TokenClaims | null, topic)) {
      this.request.log.info({ topic, reason: 'forbidden' }, 'subscription refused')
      this.push(JSON.stringify({ type: 'error', error: 'forbidden', topic }))
      return false
    }
    topics.hub.subscribe(this, topic)
    return true
  }

  /** Leaves a hub topic. */
  unsubscribe (topic: string): void {
    this.#options.topics?.hub.unsubscribe(this, topic)
  }

  /**
   * Starts the closing handshake (idempotent). `code` must be sendable per RFC 6455 section 7.4,
   * and `reason` at most 123 bytes; otherwise this throws at once, since it is a programming error.
   */
  close (code: number = CloseCode.Normal, reason = ''): void {
    if (!isSendableCloseCode(code)) throw new InvalidCloseCodeError(code)
    if (Buffer.byteLength(reason) > MAX_REASON_BYTES) {
      throw new RangeError(`close reason must be at most ${MAX_REASON_BYTES} bytes`)
    }
    if (this.#stats.closedBy !== null || this.#ws.readyState > OPEN) return
    this.#batch?.flush() // what was sent before close() goes out before the close frame
    this.#stats.closedBy = 'server'
    this.request.log.info({ code, reason }, 'closing connection')
    this.#options.onServerClose?.(code, reason)
    this.#finish()
    this.#ws.close(code, reason)
  }

  /**
   * One heartbeat round, called by the plugin's single heartbeat timer: a peer that has not
   * answered the previous ping with a pong is terminated; otherwise it is pinged.
   */
  heartbeat (): void {
    if (this.#ws.readyState !== OPEN) return
    if (!this.#alive) {
      this.terminate('no pong since the last heartbeat')
      return
    }
    this.#alive = false
    // A fresh unpredictable payload each round: a peer that never reads cannot answer it blindly.
    this.#pingPayload = randomBytes(8)
    this.#ws.ping(this.#pingPayload)
  }

  /**
   * One round of the message sweep, called by the plugin's single sweep timer: closes the
   * connection with 1008 `message timeout` when the same incoming message has been unfinished
   * (fragments or a partial frame buffered) for `timeoutMs`. A paused socket is not timed: the
   * server stopped reading, so the peer cannot finish.
   */
  checkMessageTimeout (now: number, timeoutMs: number): void {
    if (!this.#open) return
    if (this.#ws.isPaused || !messageInProgress(this.#ws)) {
      this.#messageSince = undefined
      return
    }
    if (this.#messageSince === undefined || this.#messageCount !== this.#stats.messagesIn) {
      this.#messageSince = now
      this.#messageCount = this.#stats.messagesIn
      return
    }
    if (now - this.#messageSince >= timeoutMs) this.close(CloseCode.PolicyViolation, 'message timeout')
  }

  /**
   * Closes the connection with 1008 `token expired` at `atMs` (epoch milliseconds) unless moved
   * again; from that instant nothing more is sent, even before the timer fires.
   */
  expireAt (atMs: number): void {
    clearTimeout(this.#expiryTimer)
    this.#expiresAt = atMs
    if (!this.isOpen) return
    const delayMs = Math.max(0, atMs - Date.now())
    this.#expiryTimer = setTimeout(() => {
      if (!this.#expired()) this.expireAt(this.#expiresAt)
    }, Math.min(delayMs, MAX_TIMER_MS))
    this.#expiryTimer.unref()
  }

  /**
   * Replaces the connection's token before it expires (the `auth.refresh` message): the new token
   * must verify, carry the same `sub` and pass every check the route made before the upgrade (its
   * claims policy and its `authorize`). On success
   * `request.user` holds the new claims, the deadline moves to the new `exp`, and the new `exp` is
   * returned; otherwise the connection is closed with 1008 and the refusal is thrown.
   */
  async refreshAuth (token: string): Promise<number> {
    const reauthenticate = this.#options.reauthenticate
    if (reauthenticate === undefined) {
      throw new TypeError('refreshAuth() needs a route with auth enabled')
    }
    try {
      const claims = await reauthenticate(token, this.request as unknown as FastifyRequest)
      if (!this.isOpen) throw new ConnectionClosedError()
      ;(this.request as { user: unknown }).user = claims
      this.expireAt(claims.exp * 1000)
      return claims.exp
    } catch (cause) {
      const error = cause instanceof TetherError ? cause : new InvalidTokenError('the token is not valid', { cause })
      this.request.log.info({ reason: error.reason }, 'token refresh refused')
      this.close(error.closeCode, error.message)
      throw error
    }
  }

  /**
   * Destroys the socket without a closing handshake; for peers that no longer answer. Logged
   * (`closing connection`, code 1006 and `reason`) and counted as a server close unless the
   * server had already started closing.
   */
  terminate (reason = 'terminated'): void {
    if (this.#ws.readyState === CLOSED) return
    this.#serverTerminated(reason)
    this.#finish()
    this.#ws.terminate()
  }

  /** Records a termination the server caused (by tether or by ws itself), once per connection. */
  #serverTerminated (reason: string): void {
    if (this.#stats.closedBy !== null) return
    this.#stats.closedBy = 'server'
    this.request.log.info({ code: CloseCode.Abnormal, reason }, 'closing connection')
    this.#options.onServerClose?.(CloseCode.Abnormal, reason)
  }

  /** A ping or pong from the peer: one token of the message rate. */
  #control (): void {
    if (this.#stats.closedBy === null && this.#ws.readyState !== OPEN) {
      // ws terminated the socket itself while answering this ping: the peer left too many of its
      // pongs unread (ws's maxPendingAutoPongs).
      this.#serverTerminated('too many unread pongs')
      this.#finish()
      return
    }
    if (!this.#open) return
    const rate = this.#options.rate
    if (rate !== undefined && !rate.take(performance.now())) this.close(CloseCode.PolicyViolation, 'rate limit exceeded')
  }

  #receive (bytes: Buffer, isBinary: boolean): void {
    this.#stats.messagesIn++
    this.#stats.bytesIn += bytes.length
    if (!this.#open) return
    const rate = this.#options.rate
    if (rate !== undefined && !rate.take(performance.now())) {
      this.close(CloseCode.PolicyViolation, 'rate limit exceeded')
      return
    }
    const message: Message = isBinary ? bytes : bytes.toString()
    const codec = this.#options.codec
    if (codec === undefined) {
      this.#queue.push(message as TMessage, bytes.length)
      return
    }
    const decoded = codec.decode(message)
    if (decoded.kind === 'message') {
      this.#invalidInARow = 0
      this.#queue.push(decoded.value as TMessage, bytes.length)
    } else if (decoded.kind === 'refresh') {
      this.#invalidInARow = 0
      this.refreshAuth(decoded.token).then(
        (exp) => this.push(JSON.stringify({ type: 'auth.refreshed', exp })),
        () => {} // refused: refreshAuth has closed the connection with 1008 and logged why
      )
    } else if (++this.#invalidInARow > (this.#options.maxInvalidMessages ?? 10)) {
      this.close(CloseCode.PolicyViolation, 'too many invalid messages')
    } else {
      this.push(decoded.frame)
    }
  }

  #write (data: string | Uint8Array): void {
    const batch = this.#batch
    if (batch === undefined) {
      this.#ws.send(data)
      this.#stats.messagesOut++
      this.#stats.bytesOut += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength
      return
    }
    const payload = typeof data === 'string'
      ? Buffer.from(data)
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    this.#hold(batch, frameMessage(payload, typeof data !== 'string'), payload.length)
  }

  /**
   * Holds one framed message until the end of the tick, when the tick's frames leave as one
   * buffer. `close()` flushes what is held first, so order is kept; connections with
   * permessage-deflate have no batch and write through ws.
   */
  #hold (batch: FrameBatch, parts: Buffer[], payloadBytes: number): void {
    batch.hold(parts)
    this.#stats.messagesOut++
    this.#stats.bytesOut += payloadBytes
  }

  /**
   * Waits until the buffered bytes (the socket's and this tick's batch) are at or under the
   * high-water mark, or the connection ends. Checked on every 'drain' and at the end of each tick,
   * since flushing the batch may leave the socket empty without a 'drain' event.
   */
  #waitForDrain (): Promise<void> {
    const socket = this.request.raw.socket as Duplex | undefined
    if (socket === undefined) return RESOLVED
    this.#drain = new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.#open && this.bufferedBytes > this.#limits.sendHighWaterBytes) return
        socket.removeListener('drain', check)
        this.signal.removeEventListener('abort', check)
        this.#drain = null
        this.#checkDrain = null
        resolve()
      }
      this.#checkDrain = check
      socket.on('drain', check)
      this.signal.addEventListener('abort', check)
    })
    this.#batch?.schedule()
    return this.#drain
  }

  /** True, and the connection closing with 1008, once the token's expiry has passed. */
  #expired (): boolean {
    if (this.#expiresAt === Number.POSITIVE_INFINITY || this.#expiresAt > Date.now()) return false
    if (this.isOpen) {
      const error = new TokenExpiredError()
      this.request.log.info({ reason: error.reason }, 'closing connection: token expired')
      this.close(error.closeCode, error.message)
    }
    return true
  }

  #finish (): void {
    this.#open = false
    clearTimeout(this.#expiryTimer)
    this.#queue.end()
    // A paused socket would never read the peer's close frame; nothing more is queued anyway.
    if (this.#ws.isPaused) this.#ws.resume()
    if (!this.signal.aborted) this.#abort.abort(new ConnectionClosedError())
  }
}
