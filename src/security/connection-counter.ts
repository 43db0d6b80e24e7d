/**
 * Counts open connections per key (a user's `sub`, a client IP) against a maximum. Keys at zero are
 * deleted, so the map only holds keys with open connections.
 */
export class ConnectionCounter {
  readonly #max: number
  readonly #counts = new Map<string, number>()

  constructor (max: number) {
    this.#max = max
  }

  /** Open connections for `key`. */
  count (key: string): number {
    return this.#counts.get(key) ?? 0
  }

  /** Takes a slot for `key` and returns true, or returns false when `key` is at the maximum. */
  tryAcquire (key: string): boolean {
    const current = this.#counts.get(key) ?? 0
    if (current >= this.#max) return false
    this.#counts.set(key, current + 1)
    return true
  }

  /** Gives back a slot taken by {@link tryAcquire}. */
  release (key: string): void {
    const current = this.#counts.get(key) ?? 0
    if (current <= 1) this.#counts.delete(key)
    else this.#counts.set(key, current - 1)
  }
}
