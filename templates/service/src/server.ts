import { randomBytes } from 'node:crypto'
import closeWithGrace from 'close-with-grace'
import { buildApp, loadCertificate } from './app.js'

// The process entry: `npm start` builds and runs `node dist/src/server.js` as the process itself,
// so SIGTERM reaches it. SIGTERM/SIGINT drain (new upgrades get 503, every socket 1001, handlers
// finish), then the server closes and the process exits 0.

const env = process.env
let secret = env['JWT_SECRET']
if (secret === undefined && env['NODE_ENV'] === 'production') {
  console.error('JWT_SECRET must be set in production')
  process.exit(1)
}
const generated = secret === undefined
secret ??= randomBytes(32).toString('base64url')

try {
  const certificate = await loadCertificate(env)
  const app = await buildApp({ certificate, secret, logger: { level: env['LOG_LEVEL'] ?? 'info' } })
  if (generated) app.log.warn('JWT_SECRET is not set: using a random secret for this process only')

  closeWithGrace({ delay: 15_000 }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    await app.tether.drain()
    await app.close()
  })

  await app.listen({ host: env['HOST'] ?? '127.0.0.1', port: Number(env['PORT'] ?? 8443) })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  app.log.info({ url: `wss://localhost:${port}`, ca: certificate.caPath }, 'service ready')
} catch (error) {
  console.error('could not start:', error)
  process.exit(1)
}
