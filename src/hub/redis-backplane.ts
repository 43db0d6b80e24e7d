import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'
import type { Backplane, RemoteDelivery } from './backplane.js'

/** Options of {@link RedisBackplane}. */
export interface RedisBackplaneOptions {
  /** `redis://host:port/db` */
  url: string
  log: FastifyBaseLogger
  /** Channel prefix, so several services can share one Redis. Default `tether:`. */
  prefix?: string
  /** How long start() waits for Redis before going on without it (delivering locally). Default 5000. */
  connectTimeoutMs?: number
}

/** Counters of the Redis backplane's health. */
export interface BackplaneStats {
  connected: boolean
  /** Times the connection to Redis was lost. */
  outages: number
  /** Messages that could not be handed to Redis (they were still delivered locally). */
  publishFailures: number
  published: number
  received: number
}

/**
 * Redis pub/sub across instances (ioredis). One publisher and one subscriber connection per
 * instance; the hub reference-counts topics, so Redis sees one SUBSCRIBE per topic per instance.
 * Each message is `<instanceId>\n<text>`: the publishing instance has already delivered locally
 * and drops its own echo. While Redis is away, publishes fail fast (no offline queue growing in
 * memory) and are counted, local delivery goes on, and ioredis reconnects and re-subscribes.
 */
export class RedisBackplane implements Backplane {
  readonly instanceId = randomUUID()
  readonly #options: RedisBackplaneOptions
  readonly #prefix: string
  readonly #stats: BackplaneStats = { connected: false, outages: 0, publishFailures: 0, published: 0, received: 0 }
  #publisher: Redis | undefined
  #subscriber: Redis | undefined

  constructor (options: RedisBackplaneOptions) {
    this.#options = options
    this.#prefix = options.prefix ?? 'tether:'
  }

  /** True while both connections to Redis are ready (`stats.connected`). */
  get connected (): boolean {
    return this.#stats.connected
  }

  /** A snapshot of the backplane's counters. */
  get stats (): Readonly<BackplaneStats> {
    return { ...this.#stats }
  }

  async start (deliver: RemoteDelivery): Promise<void> {
    const { url, log } = this.#options
    const retryStrategy = (attempt: number): number => Math.min(50 * 2 ** attempt, 2_000)
    this.#publisher = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy })
    // The subscriber keeps its offline queue: a SUBSCRIBE asked for during an outage is sent on
    // reconnect, and autoResubscribe restores the ones it had.
    this.#subscriber = new Redis(url, { lazyConnect: true, autoResubscribe: true, maxRetriesPerRequest: null, retryStrategy })
    for (const [name, client] of [['publisher', this.#publisher], ['subscriber', this.#subscriber]] as const) {
      client.on('error', (error: Error) => log.debug({ err: { message: error.message }, connection: name }, 'backplane: redis error'))
    }
    const subscriber = this.#subscriber
    const publisher = this.#publisher
    // Connected means both connections are ready: the subscriber has re-sent its SUBSCRIBEs
    // (autoResubscribe runs before 'ready' is emitted) and the publisher can publish.
    const onReady = (): void => {
      if (this.#stats.connected || subscriber.status !== 'ready' || publisher.status !== 'ready') return
      this.#stats.connected = true
      log.info({ instanceId: this.instanceId }, 'backplane: redis connected')
    }
    const onClose = (): void => {
      if (!this.#stats.connected) return
      this.#stats.connected = false
      this.#stats.outages++
      log.warn('backplane: lost the redis connection; delivering to local subscribers only until it is back')
    }
    for (const client of [subscriber, publisher]) {
      client.on('ready', onReady)
      client.on('close', onClose)
    }
    subscriber.on('message', (channel: string, message: string) => {
      const newline = message.indexOf('\n')
      if (newline === -1 || message.slice(0, newline) === this.instanceId) return
      this.#stats.received++
      deliver(channel.slice(this.#prefix.length), message.slice(newline + 1))
    })
    const timeoutMs = this.#options.connectTimeoutMs ?? 5_000
    try {
      await withTimeout(Promise.all([this.#publisher.connect(), subscriber.connect()]), timeoutMs)
    } catch (error) {
      log.warn({ err: { message: (error as Error).message }, url: redactCredentials(url) }, 'backplane: redis is not reachable yet; starting with local delivery only and retrying')
    }
  }

  subscribe (topic: string): void {
    this.#subscriber?.subscribe(this.#prefix + topic).catch((error: Error) => {
      this.#options.log.warn({ err: { message: error.message }, topic }, 'backplane: subscribe failed')
    })
  }

  unsubscribe (topic: string): void {
    this.#subscriber?.unsubscribe(this.#prefix + topic).catch((error: Error) => {
      this.#options.log.debug({ err: { message: error.message }, topic }, 'backplane: unsubscribe failed')
    })
  }

  publish (topic: string, text: string): void {
    const publisher = this.#publisher
    if (publisher === undefined || publisher.status !== 'ready') {
      this.#publishFailed(topic, 'redis is not connected')
      return
    }
    this.#stats.published++
    publisher.publish(this.#prefix + topic, `${this.instanceId}\n${text}`).catch((error: Error) => this.#publishFailed(topic, error.message))
  }

  async close (): Promise<void> {
    await Promise.all([this.#publisher, this.#subscriber].map(async (client) => {
      if (client === undefined) return
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect())
      else client.disconnect()
    }))
  }

  #publishFailed (topic: string, reason: string): void {
    this.#stats.publishFailures++
    // One line per failure would flood the log during an outage: the first, then every 1000th.
    if (this.#stats.publishFailures % 1000 === 1) {
      this.#options.log.warn({ topic, reason, publishFailures: this.#stats.publishFailures }, 'backplane: publish not sent to other instances (delivered locally)')
    }
  }
}

function redactCredentials (url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '[redacted]'
    return parsed.toString()
  } catch {
    return '[invalid url]'
  }
}

async function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
    })])
  } finally {
    clearTimeout(timer)
  }
}
