import { PreparedMessage } from './hub/prepared-message.js'

/** What a group needs of a connection; every `Connection<T>` has it, whatever messages it reads. */
export interface GroupMember {
  readonly signal: AbortSignal
  readonly isOpen: boolean
  pushPrepared: (message: PreparedMessage) => boolean
}

/**
 * Connections attached to a long-lived service, the TaskCompletionSource pattern of ASP.NET Core:
 * a route does `await group.attach(connection)` and stays awaiting, so its request context stays
 * valid while the service writes; the promise settles when the connection starts closing or the
 * group is closed, and the group drops its reference at that moment.
 */
export class ConnectionGroup {
  readonly #members = new Map<GroupMember, () => void>()
  #closed = false

  /** How many connections are attached. */
  get size (): number {
    return this.#members.size
  }

  /** Attaches a connection until it closes or {@link close} is called; settles then. */
  attach (connection: GroupMember): Promise<void> {
    if (this.#closed || !connection.isOpen || this.#members.has(connection)) return Promise.resolve()
    return new Promise((resolve) => {
      const detach = (): void => {
        connection.signal.removeEventListener('abort', detach)
        this.#members.delete(connection)
        resolve()
      }
      connection.signal.addEventListener('abort', detach)
      this.#members.set(connection, detach)
    })
  }

  /**
   * Writes one message (a string, or anything else as JSON), serialized and framed once, to every
   * attached connection without waiting; a connection over its buffered-bytes limit is closed as a
   * slow consumer. Returns how many connections the message was written to.
   */
  broadcast (message: string | object): number {
    if (this.#members.size === 0) return 0
    const prepared = PreparedMessage.of(message)
    let written = 0
    for (const connection of this.#members.keys()) {
      if (connection.pushPrepared(prepared)) written++
    }
    return written
  }

  /** Detaches every connection (their `attach()` promises settle) and refuses new ones. */
  close (): void {
    this.#closed = true
    for (const detach of [...this.#members.values()]) detach()
  }
}
