import type { Test } from 'tap'
import { listen, testCertificates, type TestServer } from 'fastify-tether/testing'
import { buildApp } from '../src/app.js'

/** The HS256 secret of the test app; `server.sign()` makes tokens with it. */
const SECRET = 'a test secret of at least thirty-two bytes'

/**
 * Builds the whole service (plugins, tether, routes) with a throwaway CA and starts it on
 * 127.0.0.1 and a free port over real TLS; closed when the test ends.
 */
export async function start (t: Test): Promise<TestServer> {
  const certificate = await testCertificates()
  const app = await buildApp({ certificate, secret: SECRET, logger: false })
  return await listen(t, app, { ca: certificate.ca, secret: SECRET })
}
