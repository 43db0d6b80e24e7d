import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { ConnectionGroup, type GroupMember } from 'fastify-tether'

/**
 * The reference background service: every `intervalMs` it pushes
 * `{"type":"tick","seq":N,"at":"<ISO time>"}` to every attached connection, serialized once per tick.
 */
export class FeedService {
  readonly #group = new ConnectionGroup()
  readonly #intervalMs: number
  #timer: NodeJS.Timeout | undefined
  #seq = 0

  constructor (intervalMs: number) {
    this.#intervalMs = intervalMs
  }

  /** How many connections are attached. */
  get attached (): number {
    return this.#group.size
  }

  /** Starts ticking; called when the app is ready. */
  start (): void {
    this.#timer ??= setInterval(() => this.#tick(), this.#intervalMs)
  }

  /** Stops ticking and releases every attached connection; called when the app closes. */
  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#group.close()
  }

  /** Receives ticks until the connection closes or the service stops; settles then. */
  attach (connection: GroupMember): Promise<void> {
    return this.#group.attach(connection)
  }

  #tick (): void {
    this.#seq++
    if (this.#group.size === 0) return
    this.#group.broadcast(JSON.stringify({ type: 'tick', seq: this.#seq, at: new Date().toISOString() }))
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The tick feed background service. */
    feed: FeedService
  }
}

export default fp(async function feed (app: FastifyInstance) {
  const service = new FeedService(app.config.feedIntervalMs)
  app.decorate('feed', service)
  app.addHook('onReady', async () => service.start())
  app.addHook('onClose', async () => service.stop())
}, { name: 'feed' })
