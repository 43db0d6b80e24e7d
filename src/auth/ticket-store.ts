import { randomBytes } from 'node:crypto'

/**
 * Single-use, short-lived tickets for browsers, which cannot set an Authorization header on a
 * WebSocket: an authenticated POST issues one, the upgrade URL carries it once. Tickets are 256-bit
 * random values; a redeemed or expired ticket is gone. Every ticket has the same lifetime, so the
 * oldest entries are always first in the map and expired ones are swept from the front in O(1)
 * amortized time, keeping memory bounded by the issue rate.
 */
export class TicketStore<T> {
  readonly #ttlMs: number
  readonly #now: () => number
  readonly #tickets = new Map<string, { value: T, expiresAt: number }>()

  constructor (ttlMs: number, now: () => number = Date.now) {
    this.#ttlMs = ttlMs
    this.#now = now
  }

  /** Seconds a ticket lives, as told to the client (`expiresIn`). */
  get ttlSeconds (): number {
    return Math.floor(this.#ttlMs / 1000)
  }

  /** Outstanding tickets (expired ones may linger until the next issue or redeem). */
  get size (): number {
    return this.#tickets.size
  }

  /** Issues a ticket that redeems to `value` once, within the lifetime. */
  issue (value: T): string {
    this.#sweep()
    const ticket = randomBytes(32).toString('base64url')
    this.#tickets.set(ticket, { value, expiresAt: this.#now() + this.#ttlMs })
    return ticket
  }

  /** The ticket's value, or null when it is unknown, already redeemed or expired. */
  redeem (ticket: string): T | null {
    this.#sweep()
    const entry = this.#tickets.get(ticket)
    if (entry === undefined) return null
    this.#tickets.delete(ticket)
    return entry.expiresAt > this.#now() ? entry.value : null
  }

  #sweep (): void {
    const now = this.#now()
    for (const [ticket, entry] of this.#tickets) {
      if (entry.expiresAt > now) return
      this.#tickets.delete(ticket)
    }
  }
}
