import type { FastifyBaseLogger } from 'fastify'
import type { Connection, ConnectionStats } from './connection.js'

type AnyConnection = Connection<unknown, never, unknown>

/** A connection was upgraded (the 101 is written) and its handler is about to run. */
export interface ConnectionOpenedEvent {
  /** The route pattern (`/ws/chat/:room`), never the raw URL. */
  route: string
  connection: AnyConnection
  /**
   * Seconds from the start of the handshake to the 101: from the TCP accept (so the TLS handshake
   * is included) when the upgrade is the first request on its socket, else from the upgrade
   * request's arrival (its headers parsed) on a kept-alive socket.
   */
  handshakeSeconds: number
  /** Where {@link handshakeSeconds} starts: `accept` (TCP accept, TLS included) or `request`. */
  handshakeFrom: 'accept' | 'request'
}

/** A connection's socket closed; its counters are final. */
export interface ConnectionClosedEvent {
  route: string
  connection: AnyConnection
  /** The close code of the closing handshake (1006 when the socket dropped). */
  code: number
  /** Who started the closing handshake (`null` when neither did: the socket dropped). */
  closedBy: ConnectionStats['closedBy']
  durationSeconds: number
  messagesIn: number
  bytesIn: number
  messagesOut: number
  bytesOut: number
}

/** The server started closing a connection (or terminated it: 1006). */
export interface ServerCloseEvent {
  route: string
  connection: AnyConnection
  code: number
  reason: string
}

/** A fan-out write found a connection buffering more than `maxBufferedBytes`: it is closed with 1013. */
export interface SlowConsumerEvent {
  route: string
  connection: AnyConnection
  bufferedBytes: number
}

/** A request was refused with an HTTP status (before any upgrade): `app.tether.refuse()` or a thrown `TetherError`. */
export interface RefusalEvent {
  /** The public reason (`missing_token`, `origin_not_allowed`, ...). */
  reason: string
  statusCode: number
  /** The matched route pattern, or `undefined` when the request matched no route. */
  route: string | undefined
}

/** The hub wrote a message to its local subscribers. */
export interface HubPublishEvent {
  /** The topic; an observer that labels metrics must not use it as a label (unbounded). */
  topic: string
  /** `local`: `app.hub.publish()` on this instance; `remote`: a message from another instance through the backplane. */
  source: 'local' | 'remote'
  /** Local subscribers it was written to. */
  delivered: number
}

/** Every event of {@link TetherEvents}, by name. */
export interface TetherEventMap {
  connectionOpened: ConnectionOpenedEvent
  connectionClosed: ConnectionClosedEvent
  serverClose: ServerCloseEvent
  slowConsumer: SlowConsumerEvent
  refusal: RefusalEvent
  hubPublish: HubPublishEvent
}

/** A listener of one {@link TetherEventMap} event. */
export type TetherListener<K extends keyof TetherEventMap> = (event: TetherEventMap[K]) => void

/**
 * What the tether plugin reports as it happens, for metrics and tracing (`app.tether.events`):
 * connections opened and closed (with their final counters), server-initiated closes,
 * slow-consumer closes, refusals and hub publishes. Nothing is built or emitted for an event that
 * has no listener, and nothing is emitted per message: message and byte counts come with
 * `connectionClosed` (and `connection.stats` at any time). Listeners run synchronously and must be
 * cheap; one that throws is logged and does not disturb the connection.
 */
export interface TetherEvents {
  /** Adds a listener; returns a function that removes it. */
  on: <K extends keyof TetherEventMap>(name: K, listener: TetherListener<K>) => () => void
  /** Removes a listener added with {@link on}. */
  off: <K extends keyof TetherEventMap>(name: K, listener: TetherListener<K>) => void
  /** Whether `name` has at least one listener. */
  listening: (name: keyof TetherEventMap) => boolean
}

/** The plugin's side of {@link TetherEvents}: it emits. */
export class TetherEventSource implements TetherEvents {
  readonly #listeners = new Map<keyof TetherEventMap, Set<(event: never) => void>>()
  readonly #log: FastifyBaseLogger

  constructor (log: FastifyBaseLogger) {
    this.#log = log
  }

  readonly on = <K extends keyof TetherEventMap>(name: K, listener: TetherListener<K>): (() => void) => {
    let set = this.#listeners.get(name)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(name, set)
    }
    set.add(listener)
    return () => this.off(name, listener)
  }

  readonly off = <K extends keyof TetherEventMap>(name: K, listener: TetherListener<K>): void => {
    const set = this.#listeners.get(name)
    if (set?.delete(listener) === true && set.size === 0) this.#listeners.delete(name)
  }

  readonly listening = (name: keyof TetherEventMap): boolean => this.#listeners.has(name)

  /** Calls every listener of `name`; build the event only after checking {@link listening}. */
  emit<K extends keyof TetherEventMap> (name: K, event: TetherEventMap[K]): void {
    const set = this.#listeners.get(name) as Set<TetherListener<K>> | undefined
    if (set === undefined) return
    for (const listener of set) {
      try {
        listener(event)
      } catch (error) {
        this.#log.error({ err: error, event: name }, 'tether event listener failed')
      }
    }
  }
}
