import { ConfigError, OriginNotAllowedError } from '../errors.js'

/**
 * Checks that `origin` is exactly a serialized origin (http or https scheme, host, optional port;
 * no path, no trailing slash, no wildcard), since matching is exact. Throws a {@link ConfigError}
 * naming `what` otherwise.
 */
export function parseOrigin (origin: unknown, what: string): string {
  if (typeof origin !== 'string') throw new ConfigError(`${what} entries must be strings like https://example.com:8443`)
  let parsed: URL
  try {
    parsed = new URL(origin)
  } catch {
    throw new ConfigError(`${what} entry "${origin}" is not an origin like https://example.com:8443`)
  }
  if (parsed.origin !== origin || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
    throw new ConfigError(`${what} entry "${origin}" must be exactly an origin like https://example.com:8443 (got ${parsed.origin === 'null' ? 'no origin' : parsed.origin})`)
  }
  return origin
}

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
