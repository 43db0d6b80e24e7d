import { Writable } from 'node:stream'
import { WAIT_MS, withTimeout } from './waits.js'

/** One structured log line of the app under test. */
export type LogLine = Record<string, unknown> & { msg?: string, level: number }

/** Log lines captured from an app, with a way to await one. */
export class LogCapture {
  /** Every line so far, in order. */
  readonly lines: LogLine[] = []
  readonly #waiters: Array<{ match: (line: LogLine) => boolean, resolve: (line: LogLine) => void }> = []

  /** A stream for pino (`Fastify({ logger: { level, stream: capture.stream } })`). */
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      for (const line of chunk.toString().split('\n')) {
        if (line !== '') this.add(JSON.parse(line) as LogLine)
      }
      callback()
    }
  })

  /** Records one line. */
  add (line: LogLine): void {
    this.lines.push(line)
    for (const waiter of [...this.#waiters]) {
      if (waiter.match(line)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
        waiter.resolve(line)
      }
    }
  }

  /** Resolves with the first line, past or future, that matches; rejects after `ms`. */
  waitFor (match: (line: LogLine) => boolean, what = 'a matching log line', ms = WAIT_MS): Promise<LogLine> {
    const seen = this.lines.find(match)
    if (seen !== undefined) return Promise.resolve(seen)
    return withTimeout(new Promise((resolve) => { this.#waiters.push({ match, resolve }) }), `waiting for ${what}`, ms)
  }

  /** All lines as one string, for asserting that a secret appears nowhere. */
  text (): string {
    return this.lines.map((line) => JSON.stringify(line)).join('\n')
  }
}
