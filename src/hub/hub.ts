import type { FastifyBaseLogger } from 'fastify'
import type { TetherEventSource } from '../events.js'
import type { Backplane } from './backplane.js'
import { PreparedMessage } from './prepared-message.js'

/** What the hub needs of a subscriber; every `Connection` is one. */
export interface Subscriber {
  readonly signal: AbortSignal
  /** Writes a prepared message without waiting; false if closed or cut off as a slow consumer. */
  pushPrepared: (message: PreparedMessage) => boolean
}

/** Options of {@link Hub.publish}. */
export interface PublishOptions {
  /** A local subscriber that must not receive this message (typically its sender). */
  except?: Subscriber
}

/**
 * Topics and their subscribers. A published message is serialized once and framed once, then the
 * same frame is written to every local subscriber in publish order; a slow subscriber is cut off by
 * its own connection (1013) and never stalls the others. Subscriptions end by themselves when the
 * subscriber's connection closes. Other instances are reached through the {@link Backplane}.
 */
export class Hub {
  readonly #backplane: Backplane
  readonly #log: FastifyBaseLogger
  readonly #topics = new Map<string, Set<Subscriber>>()
  readonly #bySubscriber = new Map<Subscriber, Set<string>>()
  readonly #events: TetherEventSource | undefined

  /** `events`: the plugin's observation hook, told of every publish (`hubPublish`) while someone listens. */
  constructor (backplane: Backplane, log: FastifyBaseLogger, events?: TetherEventSource) {
    this.#backplane = backplane
    this.#log = log
    this.#events = events
  }

  /** The backplane in use. */
  get backplane (): Backplane {
    return this.#backplane
  }

  /** Connects the backplane; messages from other instances are then delivered locally. */
  async start (): Promise<void> {
    await this.#backplane.start((topic, text) => {
      const delivered = this.#deliver(topic, PreparedMessage.of(text), undefined)
      if (this.#events?.listening('hubPublish') === true) this.#events.emit('hubPublish', { topic, source: 'remote', delivered })
    })
  }

  async close (): Promise<void> {
    await this.#backplane.close()
  }

  /** Local subscribers of `topic`. */
  subscriberCount (topic: string): number {
    return this.#topics.get(topic)?.size ?? 0
  }

  /** Topics with at least one local subscriber. */
  get topicCount (): number {
    return this.#topics.size
  }

  /** The topics a subscriber is in. */
  topicsOf (subscriber: Subscriber): readonly string[] {
    return [...(this.#bySubscriber.get(subscriber) ?? [])]
  }

  /** Adds `subscriber` to `topic` (idempotent) until it unsubscribes or its connection closes. */
  subscribe (subscriber: Subscriber, topic: string): void {
    if (subscriber.signal.aborted) return
    let topics = this.#bySubscriber.get(subscriber)
    if (topics === undefined) {
      topics = new Set()
      this.#bySubscriber.set(subscriber, topics)
      subscriber.signal.addEventListener('abort', () => this.#dropAll(subscriber), { once: true })
    }
    if (topics.has(topic)) return
    topics.add(topic)
    let subscribers = this.#topics.get(topic)
    if (subscribers === undefined) {
      subscribers = new Set()
      this.#topics.set(topic, subscribers)
      this.#backplane.subscribe(topic)
    }
    subscribers.add(subscriber)
  }

  /** Removes `subscriber` from `topic`. */
  unsubscribe (subscriber: Subscriber, topic: string): void {
    const topics = this.#bySubscriber.get(subscriber)
    if (topics?.delete(topic) !== true) return
    if (topics.size === 0) this.#bySubscriber.delete(subscriber)
    this.#leave(subscriber, topic)
  }

  /**
   * Publishes `message` (a string as is, anything else as JSON) to every subscriber of `topic` on
   * every instance. Returns how many local subscribers it was written to.
   */
  publish (topic: string, message: string | object, options: PublishOptions = {}): number {
    const prepared = PreparedMessage.of(message)
    const delivered = this.#deliver(topic, prepared, options.except)
    this.#backplane.publish(topic, prepared.text)
    if (this.#events?.listening('hubPublish') === true) this.#events.emit('hubPublish', { topic, source: 'local', delivered })
    return delivered
  }

  #deliver (topic: string, message: PreparedMessage, except: Subscriber | undefined): number {
    const subscribers = this.#topics.get(topic)
    if (subscribers === undefined) return 0
    let delivered = 0
    for (const subscriber of subscribers) {
      if (subscriber !== except && subscriber.pushPrepared(message)) delivered++
    }
    return delivered
  }

  #leave (subscriber: Subscriber, topic: string): void {
    const subscribers = this.#topics.get(topic)
    if (subscribers === undefined) return
    subscribers.delete(subscriber)
    if (subscribers.size === 0) {
      this.#topics.delete(topic)
      this.#backplane.unsubscribe(topic)
    }
  }

  #dropAll (subscriber: Subscriber): void {
    const topics = this.#bySubscriber.get(subscriber)
    if (topics === undefined) return
    this.#bySubscriber.delete(subscriber)
    for (const topic of topics) this.#leave(subscriber, topic)
    this.#log.debug({ topics: topics.size }, 'subscriptions dropped with the connection')
  }
}
