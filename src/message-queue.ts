/** Callbacks a {@link MessageQueue} uses to apply backpressure to its producer. */
export interface MessageQueueHooks {
  /** Called once when the queue reaches its high-water mark: stop producing (pause the socket). */
  onFull: () => void
  /** Called once when a full queue has been drained to half its high-water mark: produce again. */
  onDrained: () => void
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true })

/**
 * A single-consumer async queue: the producer pushes synchronously, the consumer pulls with
 * `for await`. Items pushed before anyone reads are kept, in order, so a handler that awaits other
 * work before reading loses nothing. Past `highWater` items the producer is told to pause, which
 * turns a slow reader into TCP backpressure on the client instead of unbounded memory.
 */
export class MessageQueue<T> implements AsyncIterableIterator<T> {
  readonly #highWater: number
  readonly #hooks: MessageQueueHooks | undefined
  #items: T[] = []
  #head = 0
  #ended = false
  #full = false
  #waiter: ((result: IteratorResult<T, undefined>) => void) | null = null

  constructor (highWater: number, hooks?: MessageQueueHooks) {
    if (!Number.isInteger(highWater) || highWater < 1) {
      throw new RangeError(`highWater must be a positive integer, got ${highWater}`)
    }
    this.#highWater = highWater
    this.#hooks = hooks
  }

  /** Number of items waiting to be read. */
  get length (): number {
    return this.#items.length - this.#head
  }

  /** Whether {@link end} has been called. Items already queued are still delivered. */
  get ended (): boolean {
    return this.#ended
  }

  /** Adds an item; ignored once the queue has ended. */
  push (item: T): void {
    if (this.#ended) return
    const waiter = this.#waiter
    if (waiter !== null) {
      this.#waiter = null
      waiter({ value: item, done: false })
      return
    }
    this.#items.push(item)
    if (!this.#full && this.length >= this.#highWater) {
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
    this.#head++
    const remaining = this.length
    if (remaining === 0) {
      this.#items.length = 0
      this.#head = 0
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      // Compact occasionally so a long-lived busy queue does not keep a growing dead prefix.
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    if (this.#full && remaining <= this.#highWater >>> 1) {
      this.#full = false
      this.#hooks?.onDrained()
    }
    return item
  }
}
