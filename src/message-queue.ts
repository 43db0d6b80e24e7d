/** Callbacks a {@link MessageQueue} uses to apply backpressure to its producer. */
export interface MessageQueueHooks {
  /** Called once when the queue reaches a high-water mark: stop producing (pause the socket). */
  onFull: () => void
  /** Called once when a full queue has been drained to half its high-water marks: produce again. */
  onDrained: () => void
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true })

/**
 * A single-consumer async queue: the producer pushes synchronously, the consumer pulls with
 * `for await`. Items pushed before anyone reads are kept, in order, so a handler that awaits other
 * work before reading loses nothing. Past `highWater` items, or `highWaterBytes` bytes as the
 * producer sized them, the producer is told to pause, which turns a slow reader into TCP
 * backpressure on the client instead of unbounded memory: a queue holds at most one item past
 * either mark.
 */
export class MessageQueue<T> implements AsyncIterableIterator<T> {
  readonly #highWater: number
  readonly #highWaterBytes: number
  readonly #hooks: MessageQueueHooks | undefined
  #items: T[] = []
  /** The size of each queued item, as pushed; parallel to #items. */
  #sizes: number[] = []
  #bytes = 0
  #head = 0
  #ended = false
  #full = false
  #waiter: ((result: IteratorResult<T, undefined>) => void) | null = null

  constructor (highWater: number, hooks?: MessageQueueHooks, highWaterBytes = Number.POSITIVE_INFINITY) {
    if (!Number.isInteger(highWater) || highWater < 1) {
      throw new RangeError(`highWater must be a positive integer, got ${highWater}`)
    }
    if (!(highWaterBytes >= 1)) throw new RangeError(`highWaterBytes must be at least 1, got ${highWaterBytes}`)
    this.#highWater = highWater
    this.#highWaterBytes = highWaterBytes
    this.#hooks = hooks
  }

  /** Bytes waiting to be read, as the producer sized them. */
  get bytes (): number {
    return this.#bytes
  }

  /** Number of items waiting to be read. */
  get length (): number {
    return this.#items.length - this.#head
  }

  /** Whether {@link end} has been called. Items already queued are still delivered. */
  get ended (): boolean {
    return this.#ended
  }

  /** Adds an item of `bytes` bytes (for the byte high-water mark); ignored once the queue has ended. */
  push (item: T, bytes = 0): void {
    if (this.#ended) return
    const waiter = this.#waiter
    if (waiter !== null) {
      this.#waiter = null
      waiter({ value: item, done: false })
      return
    }
    this.#items.push(item)
    this.#sizes.push(bytes)
    this.#bytes += bytes
    if (!this.#full && (this.length >= this.#highWater || this.#bytes >= this.#highWaterBytes)) {
      this.#full = true
      this.#hooks?.onFull()
    }
  }

  /** No more items will come: the reader gets what is queued, then the end of iteration. */
  end (): void {
    if (this.#ended) return
    this.#ended = true
    const waiter = this.#waiter
    if (waiter !== null) {
      this.#waiter = null
      waiter(DONE)
    }
  }

  next (): Promise<IteratorResult<T, undefined>> {
    if (this.length > 0) return Promise.resolve({ value: this.#shift(), done: false })
    if (this.#ended) return Promise.resolve(DONE)
    if (this.#waiter !== null) {
      return Promise.reject(new Error('messages() has one reader at a time; await each next() before the following one'))
    }
    return new Promise((resolve) => { this.#waiter = resolve })
  }

  /** Breaking out of `for await` keeps the queue: a later loop continues where this one stopped. */
  return (): Promise<IteratorResult<T, undefined>> {
    return Promise.resolve(DONE)
  }

  [Symbol.asyncIterator] (): AsyncIterableIterator<T> {
    return this
  }

  #shift (): T {
    const item = this.#items[this.#head] as T
    this.#items[this.#head] = undefined as T
    this.#bytes -= this.#sizes[this.#head] ?? 0
    this.#head++
    const remaining = this.length
    if (remaining === 0) {
      this.#items.length = 0
      this.#sizes.length = 0
      this.#bytes = 0
      this.#head = 0
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      // Compact occasionally so a long-lived busy queue does not keep a growing dead prefix.
      this.#items = this.#items.slice(this.#head)
      this.#sizes = this.#sizes.slice(this.#head)
      this.#head = 0
    }
    if (this.#full && remaining <= this.#highWater >>> 1 && this.#bytes <= this.#highWaterBytes / 2) {
      this.#full = false
      this.#hooks?.onDrained()
    }
    return item
  }
}
