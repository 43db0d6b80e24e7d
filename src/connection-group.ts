/** What a group needs of a connection; every `Connection<T>` has it, whatever messages it reads. */
export interface GroupMember {
  readonly signal: AbortSignal
  readonly isOpen: boolean
  push: (data: string | Uint8Array) => boolean
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
   * Writes one already serialized message to every attached connection without waiting; a
   * connection over its buffered-bytes limit is closed as a slow consumer. Returns how many
   * connections the message was written to.
   */
  broadcast (data: string | Uint8Array): number {
    let written = 0
    for (const connection of this.#members.keys()) {
      if (connection.push(data)) written++
    }
    return written
  }

  /** Detaches every connection (their `attach()` promises settle) and refuses new ones. */
  close (): void {
    this.#closed = true
    for (const detach of [...this.#members.values()]) detach()
  }
}
