import type { IncomingMessage } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { WebSocketServer, type WebSocket } from 'ws'
import { TETHER_PROTOCOL } from './auth/ticket-transport.js'
import { upgradeStreamOf } from './internal/ws-internals.js'
import type { TetherSettings } from './options.js'

const kProtocols = Symbol('tether.protocols')
type WithProtocols = IncomingMessage & { [kProtocols]?: readonly string[] }

/** Whether the request is a WebSocket upgrade dispatched through the router. */
export function isUpgrade (request: FastifyRequest): boolean {
  return upgradeStreamOf(request.raw) !== undefined
}

/**
 * The subprotocol the server selects: the first of the route's own, in the route's order, that the
 * client offered; else `tether` when offered (clients presenting a ticket offer it); else none.
 * Never a protocol the route did not declare.
 */
export function selectProtocol (offered: ReadonlySet<string>, declared: readonly string[]): string | false {
  for (const protocol of declared) if (offered.has(protocol)) return protocol
  return offered.has(TETHER_PROTOCOL) ? TETHER_PROTOCOL : false
}

/**
 * tether's own ws server, so its routes keep tether's limits (payload, fragments, compression,
 * close timeout) whatever a host's @fastify/websocket was registered with; the host's routes keep
 * the host's. @fastify/websocket (the host's or tether's) dispatches the upgrade request through
 * the router; tether completes it here, after every pre-upgrade check and hook.
 */
export class Upgrader {
  readonly #wss: WebSocketServer

  constructor (settings: Readonly<TetherSettings>, compression: boolean) {
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: settings.maxPayloadBytes,
      maxFragments: settings.maxFragments,
      closeTimeout: settings.closeTimeoutMs,
      // Negotiated only on routes that opt in; the others drop the offer before the upgrade.
      // No context takeover in either direction bounds zlib memory per connection; ws checks the
      // inflated size against maxPayload, so a small frame that inflates past it gets 1009.
      perMessageDeflate: compression
        ? { serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 1024, concurrencyLimit: 10 }
        : false,
      handleProtocols: (offered, request) => selectProtocol(offered, (request as WithProtocols)[kProtocols] ?? [])
    } as ConstructorParameters<typeof WebSocketServer>[0])
  }

  /**
   * Completes the upgrade of `request` with the route's subprotocols; `onOpen` gets the socket.
   * Returns false for a request that is not an upgrade.
   */
  upgrade (request: FastifyRequest, reply: FastifyReply, protocols: readonly string[], onOpen: (ws: WebSocket) => void): boolean {
    const stream = upgradeStreamOf(request.raw)
    if (stream === undefined) return false
    reply.hijack()
    ;(request.raw as WithProtocols)[kProtocols] = protocols
    this.#wss.handleUpgrade(request.raw, stream.socket, stream.head, onOpen)
    return true
  }

  close (): void {
    this.#wss.close()
  }
}
