import { request } from 'node:https'
import t, { type Test } from 'tap'
import { build, type Built } from '../helper.js'

async function get (built: Built, path: string): Promise<import('node:http').IncomingMessage> {
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request(`${built.url}${path}`, { ca: built.ca }, resolve).on('error', reject).end()
  })
  response.resume()
  return response
}

function assertSecurityHeaders (t: Test, response: import('node:http').IncomingMessage, port: number): void {
  const csp = String(response.headers['content-security-policy'])
  const connectSrc = /connect-src ([^;]+)/.exec(csp)?.[1]
  t.equal(connectSrc, `'self' wss://localhost:${port} wss://127.0.0.1:${port}`, 'connect-src: only self and this server\'s wss origin')
  t.match(csp, /frame-ancestors 'none'/)
  t.match(String(response.headers['strict-transport-security']), /^max-age=31536000; includeSubDomains/)
  t.equal(response.headers['x-content-type-options'], 'nosniff')
  t.equal(response.headers['referrer-policy'], 'no-referrer')
}

t.test('GET /health carries the security headers', async (t) => {
  const built = await build(t)
  const response = await get(built, '/health')
  t.equal(response.statusCode, 200)
  assertSecurityHeaders(t, response, built.port)
})

t.test('a refusal carries the security headers too', async (t) => {
  const built = await build(t)
  const response = await get(built, '/ws/echo')
  t.equal(response.statusCode, 426)
  assertSecurityHeaders(t, response, built.port)
})
