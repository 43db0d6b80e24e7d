import type { Duplex } from 'node:stream'

/** Batches holding frames for the end of the current tick: one callback per tick flushes them all. */
let pending: FrameBatch[] = []

function endTick (): void {
  const batches = pending
  pending = []
  for (const batch of batches) batch.endTick()
}

/**
 * The frames one connection writes during one event-loop tick, written to its socket as one
 * buffer when the tick ends: one write, one TLS record and one syscall per connection per tick
 * instead of one per message. One `process.nextTick` callback serves every connection of the
 * process.
 */
export class FrameBatch {
  readonly #socket: Duplex
  readonly #canWrite: () => boolean
  readonly #onTickEnd: () => void
  #frames: Buffer[] = []
  #bytes = 0
  #scheduled = false

  /**
   * `canWrite` is asked before each flush (no data may follow a close frame); `onTickEnd` runs
   * after the flush at the end of every tick this batch was scheduled for.
   */
  constructor (socket: Duplex, canWrite: () => boolean, onTickEnd: () => void) {
    this.#socket = socket
    this.#canWrite = canWrite
    this.#onTickEnd = onTickEnd
  }

  /** Bytes held for the end of the tick. */
  get bytes (): number {
    return this.#bytes
  }

  /** Holds frame parts until the end of the tick. */
  hold (parts: readonly Buffer[]): void {
    for (const part of parts) {
      this.#frames.push(part)
      this.#bytes += part.length
    }
    this.schedule()
  }

  /** Makes sure this batch's end-of-tick work runs, even with nothing held. */
  schedule (): void {
    if (this.#scheduled) return
    this.#scheduled = true
    if (pending.push(this) === 1) process.nextTick(endTick)
  }

  /** Writes what is held now, as one buffer (before any other write, so order is kept). */
  flush (): void {
    const frames = this.#frames
    if (frames.length === 0) return
    const bytes = this.#bytes
    this.#frames = []
    this.#bytes = 0
    if (!this.#canWrite()) return
    this.#socket.write(frames.length === 1 ? frames[0] as Buffer : Buffer.concat(frames, bytes))
  }

  /** Called once per scheduled tick by the shared callback. */
  endTick (): void {
    this.#scheduled = false
    this.flush()
    this.#onTickEnd()
  }
}
