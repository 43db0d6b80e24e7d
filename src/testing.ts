/**
 * `fastify-tether/testing`: what `fastify.inject` is for HTTP, for WebSocket routes over real TLS.
 *
 * ```ts
 * const server = await tetherTest(t, { routes: (app) => app.register(echoRoute) })
 * const client = await server.connect('/ws/echo')
 * client.send('hi')
 * t.equal(await client.next(), 'hi')
 * ```
 * @packageDocumentation
 */
export { tetherTest, listen, type TestServer, type TetherTestOptions, type ListenOptions, type ConnectOptions } from './testing/server.js'
export { TestClient, attemptRefused, collect, collectJson, waitClose, waitOpen, type ClientClose, type Received, type Refusal } from './testing/client.js'
export { LogCapture, type LogLine } from './testing/logs.js'
export { testCertificates } from './testing/certificates.js'
export { WAIT_MS, withTimeout, waitEvent, deferred, onTestEnd, type TestContext } from './testing/waits.js'
