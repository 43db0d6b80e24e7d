import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { execFileSync } from 'node:child_process'
import { withTimeout } from 'fastify-tether/testing'

/** A Redis for the backplane tests: REDIS_URL when given, else a redis-server started here. */
export interface TestRedis {
  url: string
  /** True when this helper started the server, so it can stop and restart it. */
  controllable: boolean
  /** Stops the server (controllable only); resolves when the process has exited. */
  stop: () => Promise<void>
  /** Starts it again on the same port (controllable only); resolves when it accepts connections. */
  start: () => Promise<void>
}

/** Why Redis tests must be skipped here, or false when they can run. */
export function redisUnavailable (): string | false {
  if (process.env['REDIS_URL'] !== undefined && process.env['REDIS_URL'] !== '') return false
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return false
  } catch {
    return 'no REDIS_URL and no redis-server on PATH (.ci/run installs redis-server)'
  }
}

/** Why a test that stops and restarts Redis must be skipped, or false. */
export function controllableRedisUnavailable (): string | false {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return false
  } catch {
    return 'stopping and restarting Redis needs redis-server on PATH (.ci/run installs it)'
  }
}

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  server.close()
  await once(server, 'close')
  return port
}

/**
 * REDIS_URL if set (unless `own` is asked), else a fresh redis-server on a free port that keeps
 * nothing on disk, stopped when the test ends.
 */
export async function testRedis (t: { teardown: (fn: () => unknown) => void }, own = false): Promise<TestRedis> {
  const external = process.env['REDIS_URL']
  if (!own && external !== undefined && external !== '') {
    const refuse = async (): Promise<void> => { throw new Error('an external REDIS_URL cannot be stopped or started by the tests') }
    return { url: external, controllable: false, stop: refuse, start: refuse }
  }
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = async (): Promise<void> => {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] })
    child = proc
    await withTimeout(new Promise<void>((resolve, reject) => {
      let output = ''
      proc.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('Ready to accept connections')) resolve()
      })
      proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code ?? 'a signal'}: ${output.slice(-500)}`)))
    }), 'for redis-server to accept connections')
  }
  const stop = async (): Promise<void> => {
    const proc = child
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = once(proc, 'exit')
    proc.kill('SIGKILL') // a crash, not a polite shutdown: clients see the connection drop
    await withTimeout(exited, 'for redis-server to exit')
  }
  await start()
  t.teardown(stop)
  return { url: `redis://127.0.0.1:${port}`, controllable: true, stop, start }
}
