import { once } from 'node:events'

/** Every wait of the testing kit is bounded by this by default; a missed event fails the test. */
export const WAIT_MS = 5_000

/** Rejects with a clear message when `promise` has not settled within `ms`. */
export async function withTimeout<T> (promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Awaits `event` on `emitter`, bounded by `ms`. */
export async function waitEvent (emitter: NodeJS.EventEmitter, event: string, ms = WAIT_MS): Promise<unknown[]> {
  return await once(emitter, event, { signal: AbortSignal.timeout(ms) })
}

/** A promise with its resolve function exposed, for server-side test routes to report into. */
export function deferred<T = void> (): { promise: Promise<T>, resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((_resolve) => { resolve = _resolve })
  return { promise, resolve }
}

/** The slice of a test object the kit needs: tap's `t.teardown`, or node:test's `t.after`. */
export type TestContext = { teardown: (fn: () => unknown) => void } | { after: (fn: () => unknown) => void }

/** Registers `fn` to run when the test ends. */
export function onTestEnd (t: TestContext, fn: () => unknown): void {
  if ('teardown' in t) t.teardown(fn)
  else t.after(fn)
}
