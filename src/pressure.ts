import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import type { PressureOptions } from './options.js'

/** How long one sample of memory and event-loop delay stands for. */
const SAMPLE_MS = 1_000
/** Resolution of the event-loop delay histogram; subtracted from its mean, as @fastify/under-pressure does. */
const RESOLUTION_MS = 10

/** What the guard last measured, and whether that is over a limit. */
export interface PressureSample {
  heapUsedBytes: number
  rssBytes: number
  eventLoopDelayMs: number
  /** The limit that is exceeded (`maxHeapUsedBytes`, `maxRssBytes`, `maxEventLoopDelayMs`), or null. */
  over: keyof PressureOptions | null
}

/**
 * The process-wide overload guard (the ideas of @fastify/under-pressure, without its global hook
 * and its timer): memory is sampled when an upgrade asks, at most once a second, and the mean
 * event-loop delay over the last second comes from Node's histogram. Asked before every upgrade, so
 * a process near its memory limit refuses new connections with 503 instead of dying of them.
 */
export class PressureGuard {
  readonly #limits: Readonly<Required<PressureOptions>>
  readonly #histogram: IntervalHistogram | undefined
  #sampledAt = Number.NEGATIVE_INFINITY
  #sample: PressureSample = { heapUsedBytes: 0, rssBytes: 0, eventLoopDelayMs: 0, over: null }

  constructor (limits: Readonly<Required<PressureOptions>>) {
    this.#limits = limits
    if (limits.maxEventLoopDelayMs > 0) {
      this.#histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
      this.#histogram.enable()
    }
  }

  /** Whether any check is on. */
  get enabled (): boolean {
    const { maxHeapUsedBytes, maxRssBytes, maxEventLoopDelayMs } = this.#limits
    return maxHeapUsedBytes > 0 || maxRssBytes > 0 || maxEventLoopDelayMs > 0
  }

  /** The latest sample, refreshed if older than a second. */
  check (now = performance.now()): PressureSample {
    if (!this.enabled || now - this.#sampledAt < SAMPLE_MS) return this.#sample
    this.#sampledAt = now
    const { heapUsed, rss } = process.memoryUsage()
    let eventLoopDelayMs = 0
    if (this.#histogram !== undefined) {
      const mean = this.#histogram.mean / 1e6 - RESOLUTION_MS
      eventLoopDelayMs = Number.isNaN(mean) ? 0 : Math.max(0, mean)
      this.#histogram.reset()
    }
    const { maxHeapUsedBytes, maxRssBytes, maxEventLoopDelayMs } = this.#limits
    const over = maxHeapUsedBytes > 0 && heapUsed > maxHeapUsedBytes
      ? 'maxHeapUsedBytes'
      : maxRssBytes > 0 && rss > maxRssBytes
        ? 'maxRssBytes'
        : maxEventLoopDelayMs > 0 && eventLoopDelayMs > maxEventLoopDelayMs ? 'maxEventLoopDelayMs' : null
    this.#sample = { heapUsedBytes: heapUsed, rssBytes: rss, eventLoopDelayMs, over }
    return this.#sample
  }

  close (): void {
    this.#histogram?.disable()
  }
}
