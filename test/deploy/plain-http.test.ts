import t from 'tap'
import { ConfigError } from 'fastify-tether'
import { isLoopbackHost, loadConfig } from '../../server/config.js'

// TLS=off, the plain-HTTP mode for a TLS-terminating proxy on the same host (docs/deployment.md,
// mode (a)): only on loopback unless forced, never together with a certificate.

t.test('TLS=off on loopback: plain HTTP, no certificate needed even in production', async (t) => {
  t.equal(loadConfig({}).plainHttp, false, 'TLS by default')
  t.equal(loadConfig({ TLS: 'off' }).plainHttp, true)
  t.equal(loadConfig({ TLS: 'off', HOST: '::1' }).plainHttp, true)
  t.equal(loadConfig({ TLS: 'off', NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }).plainHttp, true)
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }), /TLS_CERT and TLS_KEY are required/, 'with TLS, production still needs a certificate')
})

t.test('TLS=off elsewhere than loopback is refused unless FORCE_PLAIN_HTTP=on', async (t) => {
  for (const host of ['0.0.0.0', '10.0.0.11', '::', 'app.internal']) {
    t.throws(() => loadConfig({ TLS: 'off', HOST: host }), { name: ConfigError.name, message: /HOST must be a loopback address.*FORCE_PLAIN_HTTP/ }, host)
  }
  t.equal(loadConfig({ TLS: 'off', HOST: '0.0.0.0', FORCE_PLAIN_HTTP: 'on' }).plainHttp, true, 'forced')
  t.throws(() => loadConfig({ FORCE_PLAIN_HTTP: 'on' }), /only applies with TLS=off/)
  t.throws(() => loadConfig({ TLS: 'off', TLS_CERT: 'c.pem', TLS_KEY: 'k.pem' }), /TLS=off contradicts TLS_CERT/)
  t.throws(() => loadConfig({ TLS: 'maybe' }), /TLS must be on or off/)
})

t.test('loopback addresses', async (t) => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) t.ok(isLoopbackHost(host), host)
  for (const host of ['0.0.0.0', '128.0.0.1', '127.0.0.256', '::', '10.0.0.1', 'localhost.example.com']) t.notOk(isLoopbackHost(host), host)
})
