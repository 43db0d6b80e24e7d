import t from 'tap'
import { WebSocket } from 'ws'
import { waitClose, waitOpen, withTimeout } from 'fastify-tether/testing'
import { alive, health, ready, spawnServer } from './support.js'

// Finding 9 of the "Hardening" issue: SIGTERM sent to the `npm start` process (as Docker and
// systemd send it to their main process) killed npm's `sh -c` and left the server running,
// orphaned. The start script now `exec`s node, so npm's signal reaches the server itself.
// This runs the real start command, `prestart` build included.

t.setTimeout(180_000)

t.test('SIGTERM to `npm start` drains the server (1001 to every client) and the whole process tree exits', async (t) => {
  const server = spawnServer(t, ['npm', 'start'], { DEV_TOKENS: 'on' })
  const { port, ca, pid } = await ready(server, 150_000)
  t.not(pid, server.child.pid, 'the server is a child of npm')
  t.ok(server.logs.lines.some((l) => l.level === 40 && String(l.msg).includes('DEV_TOKENS=on')), 'dev tokens on is a warning at start')
  t.equal(await health(port, ca), 200)

  const clients = Array.from({ length: 10 }, () => new WebSocket(`wss://localhost:${port}/ws/echo`, { ca }))
  await Promise.all(clients.map((ws) => waitOpen(ws)))
  const closes = Promise.all(clients.map((ws) => waitClose(ws, 15_000)))

  server.child.kill('SIGTERM') // to npm only, not its process group: what `docker stop` does to PID 1
  for (const close of await closes) t.same(close, { code: 1001, reason: 'server shutting down' })
  t.equal(await withTimeout(server.exited, 'for npm to exit', 15_000), 0, 'npm exits 0')
  t.ok(server.logs.lines.some((l) => l.msg === 'shutting down' && l['signal'] === 'SIGTERM'), 'the server saw SIGTERM')
  t.notOk(alive(pid), 'the server process is gone, not orphaned')
})
