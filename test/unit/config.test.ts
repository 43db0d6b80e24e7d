import t from 'tap'
import { TETHER_DEFAULTS } from 'fastify-tether'
import { loadConfig } from '../../server/config.js'

t.test('an empty environment gives the documented defaults', async (t) => {
  const config = loadConfig({})
  t.equal(config.host, '127.0.0.1')
  t.equal(config.port, 8443)
  t.equal(config.certDir, '.certs')
  t.equal(config.feedIntervalMs, 1000)
  t.equal(config.production, false)
  t.same(config.tether, TETHER_DEFAULTS)
})

t.test('variables override defaults', async (t) => {
  const config = loadConfig({ HOST: '0.0.0.0', PORT: '9443', FEED_INTERVAL_MS: '250', CERT_DIR: '/tmp/c', WS_MAX_PAYLOAD: '1024' })
  t.match(config, { host: '0.0.0.0', port: 9443, feedIntervalMs: 250, certDir: '/tmp/c', tether: { maxPayloadBytes: 1024 } })
})

t.test('a bad value fails with a message naming the variable', async (t) => {
  t.throws(() => loadConfig({ PORT: 'eighty' }), { code: 'TETHER_ERR_CONFIG', message: 'PORT must be a whole number, got "eighty"' })
  t.throws(() => loadConfig({ PORT: '70000' }), { message: 'PORT must be between 0 and 65535, got 70000' })
  t.throws(() => loadConfig({ FEED_INTERVAL_MS: '0' }), { message: /^FEED_INTERVAL_MS must be between 1 and/ })
  t.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), { message: /^LOG_LEVEL must be one of/ })
})

t.test('TLS_CERT and TLS_KEY go together, and production requires them', async (t) => {
  t.throws(() => loadConfig({ TLS_CERT: '/a.pem' }), { message: 'TLS_CERT and TLS_KEY must be set together' })
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), { message: /^TLS_CERT and TLS_KEY are required when NODE_ENV=production/ })
  t.equal(loadConfig({ NODE_ENV: 'production', TLS_CERT: '/a.pem', TLS_KEY: '/b.pem', JWT_SECRET: 'x'.repeat(32) }).production, true)
})

t.test('JWT_SECRET: required and at least 32 characters in production, generated in development', async (t) => {
  const tls = { TLS_CERT: '/a.pem', TLS_KEY: '/b.pem' }
  t.throws(() => loadConfig({ NODE_ENV: 'production', ...tls }), { message: 'JWT_SECRET is required when NODE_ENV=production' })
  t.throws(() => loadConfig({ NODE_ENV: 'production', ...tls, JWT_SECRET: 'short' }), { message: 'JWT_SECRET must be at least 32 characters when NODE_ENV=production' })
  const dev = loadConfig({})
  t.equal(dev.jwtSecretGenerated, true)
  t.ok(dev.jwtSecret.length >= 32)
  t.not(loadConfig({}).jwtSecret, dev.jwtSecret, 'a fresh random secret each start')
  t.same(loadConfig({ JWT_SECRET: 'given' }), { ...loadConfig({ JWT_SECRET: 'given' }), jwtSecret: 'given', jwtSecretGenerated: false })
})

t.test('ALLOWED_ORIGINS takes exact origins only', async (t) => {
  t.same(loadConfig({ ALLOWED_ORIGINS: 'https://a.example, https://b.example:8443' }).allowedOrigins, ['https://a.example', 'https://b.example:8443'])
  t.equal(loadConfig({}).allowedOrigins, undefined, 'unset: this server\'s own origins')
  t.throws(() => loadConfig({ ALLOWED_ORIGINS: 'https://a.example/' }), { message: /^ALLOWED_ORIGINS entry "https:\/\/a.example\/" must be exactly an origin/ })
  t.throws(() => loadConfig({ ALLOWED_ORIGINS: '*' }), { message: /^ALLOWED_ORIGINS entry "\*" is not an origin/ })
  t.throws(() => loadConfig({ ALLOWED_ORIGINS: 'null' }), { message: /^ALLOWED_ORIGINS entry "null" is not an origin/ })
})

t.test('security limits read from the environment', async (t) => {
  const config = loadConfig({ HANDSHAKE_RATE_PER_MIN: '5', WS_MAX_CONN_PER_USER: '2', WS_MAX_CONN_PER_IP: '3' })
  t.match(config.tether, { handshakeRatePerMin: 5, maxConnectionsPerUser: 2, maxConnectionsPerIp: 3 })
  t.throws(() => loadConfig({ WS_MAX_CONN_PER_USER: '0' }), { message: /^WS_MAX_CONN_PER_USER must be between 1 and/ })
})
