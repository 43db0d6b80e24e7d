import type { IncomingMessage, Server } from 'node:http'
import { Socket } from 'node:net'

/** When a handshake started, and from what. */
export interface HandshakeStart {
  at: number
  from: 'accept' | 'request'
}

/**
 * Times WebSocket handshakes for the `connectionOpened` event, only while something listens: the
 * TCP accept is stamped on the raw socket (before TLS); the first request on that socket takes the
 * stamp, so an upgrade that is its socket's first request is timed from the accept (TLS handshake
 * included) and one on a kept-alive socket from its own arrival (headers parsed).
 *
 * Reading the TLS socket's TCP socket is a shim: Node keeps it as `TLSSocket._parent` and exposes
 * no public way from a request to its raw socket. Without it (plain HTTP servers have no parent:
 * the request's socket is the TCP socket itself) the clock falls back as described.
 */
export class HandshakeClock {
  readonly #accepted = new WeakMap<Socket, number>()
  readonly #starts = new WeakMap<IncomingMessage, HandshakeStart>()
  readonly #enabled: () => boolean

  constructor (enabled: () => boolean) {
    this.#enabled = enabled
  }

  /** Listens to the server's TCP accepts (prepended, before TLS); returns the uninstaller. */
  install (server: Server): () => void {
    const onConnection = (socket: Socket): void => {
      if (this.#enabled()) this.#accepted.set(socket, performance.now())
    }
    server.prependListener('connection', onConnection)
    return () => { server.removeListener('connection', onConnection) }
  }

  /** Called for every request and upgrade as it arrives: takes the socket's accept stamp, if any. */
  readonly arrived = (request: IncomingMessage): void => {
    if (!this.#enabled()) return
    const raw = tcpSocketOf(request)
    const accepted = raw === undefined ? undefined : this.#accepted.get(raw)
    if (accepted !== undefined) {
      this.#accepted.delete(raw as Socket)
      this.#starts.set(request, { at: accepted, from: 'accept' })
    } else {
      this.#starts.set(request, { at: performance.now(), from: 'request' })
    }
  }

  /** When the handshake of `request` started (undefined when nothing listened as it arrived). */
  startOf (request: IncomingMessage): HandshakeStart | undefined {
    return this.#starts.get(request)
  }
}

function tcpSocketOf (request: IncomingMessage): Socket | undefined {
  const socket = request.socket as Socket & { _parent?: unknown }
  if (socket._parent instanceof Socket) return socket._parent
  return socket
}
