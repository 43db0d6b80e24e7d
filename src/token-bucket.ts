/**
 * A token bucket for per-connection message rates: `burst` tokens at most, refilled continuously
 * at `ratePerSec`. Refill is computed from the elapsed time on each take, so the check is O(1)
 * per message and needs no timer per connection.
 */
export class TokenBucket {
  readonly #ratePerMs: number
  readonly #burst: number
  #tokens: number
  #last: number

  /** `now` is in milliseconds (performance.now()). */
  constructor (ratePerSec: number, burst: number, now: number) {
    if (!(ratePerSec > 0) || !(burst >= 1)) {
      throw new RangeError(`a token bucket needs ratePerSec > 0 and burst >= 1, got ${ratePerSec} and ${burst}`)
    }
    this.#ratePerMs = ratePerSec / 1000
    this.#burst = burst
    this.#tokens = burst
    this.#last = now
  }

  /** Takes one token if there is one; returns false when the rate is exceeded. */
  take (now: number): boolean {
    const refilled = this.#tokens + (now - this.#last) * this.#ratePerMs
    this.#tokens = refilled > this.#burst ? this.#burst : refilled
    this.#last = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}
