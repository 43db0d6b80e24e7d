import { spawn, type ChildProcess } from 'node:child_process'
import { request } from 'node:https'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { readFile } from 'node:fs/promises'
import { waitClose, waitEvent, waitOpen, withTimeout } from 'fastify-tether/testing'

const ROOT = join(import.meta.dirname, '..')

interface Started {
  child: ChildProcess
  port: number
  ca: string
  lines: Array<Record<string, unknown>>
}

/** Starts server/main.ts as its own process on an ephemeral port with its own CERT_DIR. */
async function startServer (t: Test, env: Record<string, string> = {}): Promise<Started> {
  const certDir = t.testdir()
  const child = spawn(process.execPath, ['--conditions=tether-source', '--import', 'tsx', join(ROOT, 'server', 'main.ts')], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', CERT_DIR: certDir, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const lines: Array<Record<string, unknown>> = []
  const ready = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as Record<string, unknown>
      lines.push(line)
      if (line['msg'] === 'fastify-tether reference server ready') resolve(Number(new URL(String(line['url'])).port))
    })
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before it was ready`)))
  })
  const port = await withTimeout(ready, 'for the server process to be ready', 20_000)
  return { child, port, lines, ca: await readFile(join(certDir, 'ca.pem'), 'utf8') }
}

async function devToken (port: number, ca: string, body: object): Promise<{ token: string }> {
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request(`https://localhost:${port}/auth/dev-token`, { method: 'POST', ca, headers: { 'content-type': 'application/json' } }, resolve)
      .on('error', reject)
      .end(JSON.stringify(body))
  })
  let text = ''
  for await (const chunk of response) text += String(chunk)
  return JSON.parse(text) as { token: string }
}

t.test('SIGTERM closes every socket with 1001 and the process exits 0 within the deadline', async (t) => {
  // 25 feed clients for one user: over the default cap of 10 per user, so the cap is raised here.
  // DEV_TOKENS=on for POST /auth/dev-token, which does not exist otherwise.
  const { child, port, ca, lines } = await startServer(t, { WS_MAX_CONN_PER_USER: '50', DEV_TOKENS: 'on' })
  const { token } = await devToken(port, ca, { sub: 'alice', mfa: true })
  const headers = { authorization: `Bearer ${token}` }
  const clients = Array.from({ length: 50 }, (_, i) => new WebSocket(`wss://localhost:${port}${i % 2 === 0 ? '/ws/echo' : '/ws/feed'}`, { ca, headers }))
  await Promise.all(clients.map((ws) => waitOpen(ws)))
  const closes = Promise.all(clients.map((ws) => waitClose(ws, 12_000)))
  const exited = waitEvent(child, 'exit', 12_000)
  const started = performance.now()
  child.kill('SIGTERM')
  for (const close of await closes) t.same(close, { code: 1001, reason: 'server shutting down' })
  const [code] = await exited
  const elapsedMs = performance.now() - started
  t.equal(code, 0, 'exit code 0')
  t.ok(elapsedMs < 10_000, `exited ${Math.round(elapsedMs)} ms after SIGTERM`)
  t.equal(lines.filter((l) => l['msg'] === 'websocket closed').length, 50, 'every connection logged its end')
})

t.test('a start with a bad variable fails fast and names it', async (t) => {
  const child = spawn(process.execPath, ['--conditions=tether-source', '--import', 'tsx', join(ROOT, 'server', 'main.ts')], {
    cwd: ROOT,
    env: { ...process.env, PORT: 'eighty' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const [code] = await waitEvent(child, 'exit', 20_000)
  t.equal(code, 1)
  t.match(output, /PORT must be a whole number, got \\"eighty\\"/)
})

t.test('production without TLS_CERT/TLS_KEY refuses to start and generates nothing', async (t) => {
  const certDir = t.testdir()
  const child = spawn(process.execPath, ['--conditions=tether-source', '--import', 'tsx', join(ROOT, 'server', 'main.ts')], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', CERT_DIR: certDir, TLS_CERT: '', TLS_KEY: '', JWT_SECRET: 'x'.repeat(32) },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const [code] = await waitEvent(child, 'exit', 20_000)
  t.equal(code, 1)
  t.match(output, /TLS_CERT and TLS_KEY are required when NODE_ENV=production/)
  const { readdir } = await import('node:fs/promises')
  t.same(await readdir(certDir), [], 'no certificate was generated')
})
