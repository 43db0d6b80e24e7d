import { OriginNotAllowedError } from '../errors.js'

/**
 * The Origin allowlist, checked before the upgrade against cross-site WebSocket hijacking: a page
 * on another site can open a WebSocket to this server with the victim's cookies, and only the
 * Origin header tells it apart. Matching is exact on the serialized origin (scheme, host, port),
 * so `https://localhost:8443.evil.com` and the opaque origin `null` never match.
 */
export class OriginPolicy {
  readonly #resolve: () => readonly string[]
  #allowed: Set<string> | undefined

  /** `allowed` may be a function, resolved on first use (the default depends on the listening port). */
  constructor (allowed: readonly string[] | (() => readonly string[])) {
    this.#resolve = typeof allowed === 'function' ? allowed : () => allowed
  }

  /** The allowed origins. */
  get allowed (): readonly string[] {
    return [...this.#set()]
  }

  /**
   * Returns the refusal for this Origin header, or null when it may proceed. A request without
   * Origin (a non-browser client) proceeds unless `requireOrigin` is set.
   */
  check (origin: string | undefined, requireOrigin: boolean): OriginNotAllowedError | null {
    if (origin === undefined) {
      return requireOrigin ? new OriginNotAllowedError('an Origin header is required on this route') : null
    }
    return this.#set().has(origin) ? null : new OriginNotAllowedError()
  }

  #set (): Set<string> {
    this.#allowed ??= new Set(this.#resolve())
    return this.#allowed
  }
}
