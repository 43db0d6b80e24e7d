import type { Connection } from './connection.js'
import { ShuttingDownError } from './errors.js'

interface Entry {
  connection: Connection<unknown, never, unknown>
  /** Settles when both the handler has finished and the socket has closed. */
  finished: Promise<void>
}

/**
 * The live connections of one plugin instance: the single heartbeat timer that pings them all,
 * the drain that closes them all on shutdown, and the count of closes the server initiated.
 */
export class ConnectionRegistry {
  readonly #live = new Set<Entry>()
  readonly #serverCloses = new Map<string, number>()
  readonly #shutdownTimeoutMs: number
  #heartbeat: NodeJS.Timeout | undefined
  #messageSweep: NodeJS.Timeout | undefined
  #draining: Promise<void> | undefined

  constructor (shutdownTimeoutMs: number) {
    this.#shutdownTimeoutMs = shutdownTimeoutMs
  }

  /** Connections whose handler or socket is still running. */
  get size (): number {
    return this.#live.size
  }

  /** True from the moment {@link drain} is called. */
  get draining (): boolean {
    return this.#draining !== undefined
  }

  /** Closes the server initiated, by code. */
  get serverCloses (): Readonly<Record<string, number>> {
    return Object.fromEntries(this.#serverCloses)
  }

  /** Counts one close the server initiated. */
  readonly countClose = (code: number): void => {
    const key = String(code)
    this.#serverCloses.set(key, (this.#serverCloses.get(key) ?? 0) + 1)
  }

  /** Tracks a connection until `finished` settles. */
  add (connection: Connection<unknown, never, unknown>, finished: Promise<unknown>): void {
    const entry: Entry = { connection, finished: finished.then(() => { this.#live.delete(entry) }) }
    this.#live.add(entry)
  }

  /** One timer for every connection, not one per connection (0 disables). */
  startHeartbeat (intervalMs: number): void {
    if (intervalMs <= 0 || this.#heartbeat !== undefined) return
    this.#heartbeat = setInterval(() => {
      for (const entry of this.#live) entry.connection.heartbeat()
    }, intervalMs)
    this.#heartbeat.unref()
  }

  /**
   * One timer for every connection that closes those with a message unfinished for longer than
   * `timeoutMs` (0 disables). It runs every quarter of the timeout, so a close comes between 1x
   * and 1.5x the timeout after the message began; a connection costs nothing between sweeps.
   */
  startMessageSweep (timeoutMs: number): void {
    if (timeoutMs <= 0 || this.#messageSweep !== undefined) return
    this.#messageSweep = setInterval(() => {
      const now = performance.now()
      for (const entry of this.#live) entry.connection.checkMessageTimeout(now, timeoutMs)
    }, Math.max(1, Math.ceil(timeoutMs / 4)))
    this.#messageSweep.unref()
  }

  /** Stops the heartbeat and the message sweep. */
  stopHeartbeat (): void {
    clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
    clearInterval(this.#messageSweep)
    this.#messageSweep = undefined
  }

  /**
   * Closes every connection with 1001, gives handlers up to the shutdown timeout and terminates
   * what is left. Idempotent: every call returns the same promise.
   */
  drain (): Promise<void> {
    this.#draining ??= (async () => {
      const error = new ShuttingDownError()
      for (const entry of this.#live) entry.connection.close(error.closeCode, error.message)
      await settleWithin([...this.#live].map((entry) => entry.finished), this.#shutdownTimeoutMs)
      for (const entry of this.#live) {
        entry.connection.request.log.warn('terminating websocket that outlived the shutdown timeout')
        entry.connection.terminate()
      }
    })()
    return this.#draining
  }
}

/** Resolves when every promise has settled or `timeoutMs` has passed, whichever comes first. */
async function settleWithin (promises: Array<Promise<unknown>>, timeoutMs: number): Promise<void> {
  if (promises.length === 0) return
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs) })
  await Promise.race([Promise.allSettled(promises), timeout])
  clearTimeout(timer)
}
