/** How a backplane hands a message from another instance to the local hub. */
export type RemoteDelivery = (topic: string, text: string) => void

/**
 * Cross-instance fan-out for the {@link Hub}. The hub delivers to its own subscribers itself and
 * gives every published message to the backplane, which carries it to the other instances; a
 * backplane never delivers an instance's own messages back to it. The hub subscribes to a topic
 * when its first local subscriber arrives and unsubscribes when the last leaves.
 */
export interface Backplane {
  /** Identifies this instance in the messages it publishes. */
  readonly instanceId: string
  /**
   * Whether the backplane reaches the other instances now (readiness reads it). Undefined for a
   * backplane with no outside dependency, which is always as connected as it can be.
   */
  readonly connected?: boolean
  /** Connects; `deliver` receives messages published by other instances. */
  start: (deliver: RemoteDelivery) => Promise<void>
  subscribe: (topic: string) => void
  unsubscribe: (topic: string) => void
  /** Publishes to other instances; never throws: a failure is logged and counted. */
  publish: (topic: string, text: string) => void
  close: () => Promise<void>
}

/** The default backplane: one process, nothing to install; there are no other instances. */
export class InProcessBackplane implements Backplane {
  readonly instanceId = 'local'
  async start (): Promise<void> {}
  subscribe (): void {}
  unsubscribe (): void {}
  publish (): void {}
  async close (): Promise<void> {}
}
