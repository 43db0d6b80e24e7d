import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { request } from 'node:https'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Test } from 'tap'
import { LogCapture, waitEvent, withTimeout } from 'fastify-tether/testing'

export const ROOT = join(import.meta.dirname, '..', '..')

/** The reference server from its TypeScript sources, as the other process tests run it. */
export const SOURCE_SERVER = [process.execPath, '--conditions=tether-source', '--import', 'tsx', join(ROOT, 'server', 'main.ts')]

/** A server process and what it said on stdout (pino JSON lines; anything else, such as npm's banner, in `other`). */
export interface ServerProcess {
  child: ChildProcess
  logs: LogCapture
  other: string[]
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  exited: Promise<number | string>
  certDir: string
}

/**
 * Spawns `command` in the repository with its own CERT_DIR and PORT=0 and reads its log lines. The
 * process leads its own process group; if it is still running when the test ends, that group (and
 * nothing else) is killed.
 */
export function spawnServer (t: Test, command: readonly string[], env: Record<string, string> = {}): ServerProcess {
  const certDir = t.testdir()
  const [file, ...args] = command as [string, ...string[]]
  const child = spawn(file, args, {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', CERT_DIR: certDir, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true
  })
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))
  })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try { process.kill(-child.pid, 'SIGKILL') } catch {}
    }
  })
  const logs = new LogCapture()
  const other: string[] = []
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: unknown
    try { line = JSON.parse(text) } catch { line = undefined }
    if (typeof line === 'object' && line !== null) logs.add(line as Parameters<LogCapture['add']>[0])
    else other.push(text)
  })
  return { child, logs, other, exited, certDir }
}

/** Waits for the ready line; resolves with the port and the development CA. Rejects if the process exits first. */
export async function ready (server: ServerProcess, ms = 20_000): Promise<{ port: number, ca: string, pid: number }> {
  const line = await withTimeout(Promise.race([
    server.logs.waitFor((l) => l.msg === 'fastify-tether reference server ready', 'the ready line', ms),
    server.exited.then((code) => { throw new Error(`the server exited with ${code} before it was ready: ${server.logs.text()} ${server.other.join('\n')}`) })
  ]), 'for the server to be ready', ms)
  return {
    port: Number(new URL(String(line['url'])).port),
    ca: await readFile(join(server.certDir, 'ca.pem'), 'utf8'),
    pid: Number(line['pid'])
  }
}

/** GET /health: the status code, or the error when nothing answers. */
export async function health (port: number, ca: string): Promise<number> {
  const response = await withTimeout(new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request(`https://localhost:${port}/health`, { ca, agent: false }, resolve).on('error', reject).end()
  }), 'for /health')
  response.resume()
  await waitEvent(response, 'end')
  return response.statusCode ?? 0
}

/** True while a process with this id exists (signal 0 checks without sending anything). */
export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
