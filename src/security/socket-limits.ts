import { readFileSync } from 'node:fs'
import type { Server, Socket } from 'node:net'

/** Defaults of {@link limitSockets}. */
export const SOCKET_LIMIT_DEFAULTS = Object.freeze({
  /**
   * Open sockets one client address may hold, in any state (TLS handshake, HTTP keep-alive,
   * WebSocket). Above the plugin's `maxConnectionsPerIp` (100) so a client at that cap still has
   * room for its HTTP requests.
   */
  maxPerAddress: 128,
  /** Where the open-file limit cannot be read, the global cap. */
  maxFallback: 10_000,
  /** At most one log line per this interval, plus a summary of what it held back. */
  logIntervalMs: 10_000
})

/** Options of {@link limitSockets}. */
export interface SocketLimitOptions {
  /**
   * Open sockets per client address (IPv4 address; IPv6 /64, what one host usually holds); 0
   * disables. Default 128. The address is the TCP peer's: behind a reverse proxy every socket is
   * the proxy's, so disable it there and limit at the proxy.
   */
  maxPerAddress?: number
  /** Open sockets in all; 0 disables. Default: 90% of the process's open-file limit (10,000 where unknown). */
  max?: number
  /** Where refusals are logged (warn), at most once per `logIntervalMs` with a count of the rest. */
  log?: { warn: (object: Record<string, unknown>, message: string) => void }
  logIntervalMs?: number
}

/** Counters of a {@link SocketLimiter}. */
export interface SocketLimitStats {
  /** Sockets open now. */
  open: number
  /** Client addresses holding at least one socket now. */
  addresses: number
  /** Sockets destroyed on accept because their address held `maxPerAddress` already. */
  refusedPerAddress: number
  /** Sockets destroyed on accept because `max` were open. */
  refusedGlobal: number
}

/** The handle {@link limitSockets} returns. */
export interface SocketLimiter {
  readonly maxPerAddress: number
  readonly max: number
  /** A snapshot of the counters. */
  readonly stats: SocketLimitStats
  /** Stops limiting (sockets already counted stay counted until they close). */
  close: () => void
}

/**
 * Caps open sockets per client address and in all, **before TLS**: the check runs on the server's
 * `'connection'` event (prepended, so before the TLS and HTTP listeners), which a `tls.Server` or
 * `https.Server` emits for the raw TCP socket before the handshake. A socket over a cap is
 * destroyed at once (it never costs a TLS handshake, a parser or a timer) and counted; the count
 * is logged at most once per interval, so a flood does not flood the log.
 *
 * A function over the server rather than a plugin option: it guards every socket of the server,
 * plain HTTP included, which is not a WebSocket plugin's to decide, and the right per-address cap
 * depends on the deployment (0 behind a proxy).
 */
export function limitSockets (server: Server, options: SocketLimitOptions = {}): SocketLimiter {
  const maxPerAddress = checkLimit(options.maxPerAddress ?? SOCKET_LIMIT_DEFAULTS.maxPerAddress, 'maxPerAddress')
  const max = checkLimit(options.max ?? defaultMaxSockets(), 'max')
  const log = new RefusalLog(options.log, options.logIntervalMs ?? SOCKET_LIMIT_DEFAULTS.logIntervalMs)
  const perAddress = new Map<string, number>()
  let open = 0
  let refusedPerAddress = 0
  let refusedGlobal = 0

  const onConnection = (socket: Socket): void => {
    const remote = socket.remoteAddress
    if (remote === undefined) { socket.destroy(); return } // already gone
    const address = addressKey(remote)
    const held = perAddress.get(address) ?? 0
    if (max > 0 && open >= max) {
      refusedGlobal++
      log.refused('global', remote, open)
      socket.destroy()
      return
    }
    if (maxPerAddress > 0 && held >= maxPerAddress) {
      refusedPerAddress++
      log.refused('per_address', remote, open)
      socket.destroy()
      return
    }
    open++
    perAddress.set(address, held + 1)
    socket.once('close', () => {
      open--
      const left = (perAddress.get(address) ?? 1) - 1
      if (left <= 0) perAddress.delete(address)
      else perAddress.set(address, left)
    })
  }
  server.prependListener('connection', onConnection)

  return {
    maxPerAddress,
    max,
    get stats () { return { open, addresses: perAddress.size, refusedPerAddress, refusedGlobal } },
    close () {
      server.removeListener('connection', onConnection)
      log.close()
    }
  }
}

/**
 * 90% of the soft open-file limit (`ulimit -n`, from /proc/self/limits), so the sockets a flood
 * can open never exhaust the descriptors the process needs for everything else; 10,000 where the
 * limit cannot be read.
 */
export function defaultMaxSockets (): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8')
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1]
    if (soft !== undefined) return Math.max(1, Math.floor(Number(soft) * 0.9))
  } catch {}
  return SOCKET_LIMIT_DEFAULTS.maxFallback
}

/**
 * The unit of the per-address cap: an IPv4 address (IPv4-mapped IPv6 included), or the /64 of an
 * IPv6 address, since one host commonly holds a whole /64.
 */
export function addressKey (address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1] as string
  if (!address.includes(':')) return address
  const [head = '', tail] = address.split('%')[0]?.split('::') ?? ['']
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return `${groups.slice(0, 4).map((group) => group.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`
}

function checkLimit (value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`limitSockets: ${name} must be a whole number, 0 to disable; got ${String(value)}`)
  return value
}

/** One warn line when a window of refusals opens, one summary of the window if more followed. */
class RefusalLog {
  readonly #log: SocketLimitOptions['log']
  readonly #intervalMs: number
  #timer: NodeJS.Timeout | undefined
  #held = 0

  constructor (log: SocketLimitOptions['log'], intervalMs: number) {
    this.#log = log
    this.#intervalMs = intervalMs
  }

  refused (limit: 'per_address' | 'global', address: string, open: number): void {
    if (this.#log === undefined) return
    if (this.#timer !== undefined) { this.#held++; return }
    this.#log.warn({ limit, address, open }, 'socket refused: over the socket limit')
    this.#timer = setTimeout(() => this.#flush(), this.#intervalMs).unref()
  }

  #flush (): void {
    this.#timer = undefined
    if (this.#held === 0) return
    this.#log?.warn({ refused: this.#held, intervalMs: this.#intervalMs }, 'sockets refused: over the socket limit')
    this.#held = 0
    this.#timer = setTimeout(() => this.#flush(), this.#intervalMs).unref()
  }

  close (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
