import { createServer } from 'node:net'
import t from 'tap'
import { waitEvent, withTimeout } from 'fastify-tether/testing'
import { SOURCE_SERVER, spawnServer } from './support.js'

// Finding 9 of the "Hardening" issue: with the port in use, the server logged `could not start` and
// never exited (its onReady timers kept the process alive).

t.test('the port in use: the start fails, says why, and the process exits non-zero within seconds', async (t) => {
  const holder = createServer()
  holder.listen(0, '127.0.0.1')
  await waitEvent(holder, 'listening')
  t.teardown(() => { holder.close() })
  const port = (holder.address() as import('node:net').AddressInfo).port

  const server = spawnServer(t, SOURCE_SERVER, { PORT: String(port) })
  const line = await server.logs.waitFor((l) => l.msg === 'could not start', 'the could not start line', 20_000)
  t.match(JSON.stringify(line['err']), /EADDRINUSE/)
  const code = await withTimeout(server.exited, 'for the process to exit after could not start', 5_000)
  t.not(code, 0, `exit code ${code}`)
  t.equal(code, 1)
})

t.test('DEV_TOKENS=on with NODE_ENV=production: refused at start, naming both, exit 1', async (t) => {
  const server = spawnServer(t, SOURCE_SERVER, { NODE_ENV: 'production', DEV_TOKENS: 'on', TLS_CERT: '/nonexistent/cert.pem', TLS_KEY: '/nonexistent/key.pem', JWT_SECRET: 'x'.repeat(32) })
  const code = await withTimeout(server.exited, 'for the refused start to exit', 20_000)
  t.equal(code, 1)
  t.match(server.logs.text(), /DEV_TOKENS=on.*NODE_ENV=production/)
})
