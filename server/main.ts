import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { buildApp } from './app.js'
import { loadConfig } from './config.js'
import { loadCertificate } from './certificate.js'
import { loggerOptions } from './logging.js'

// The process entry of the reference server: `npm start` runs the compiled dist/server/main.js.
const log = pino(loggerOptions(process.env['LOG_LEVEL'] ?? 'info'))

try {
  const config = loadConfig()
  if (config.jwtSecretGenerated) {
    log.warn('JWT_SECRET is not set: using a random secret for this process only (tokens do not survive a restart); set JWT_SECRET to keep them')
  }
  const certificate = await loadCertificate(config, log)
  const app = await buildApp({ config, certificate, loggerInstance: log.child({}, { level: config.logLevel }) })

  // SIGTERM/SIGINT: drain (503 for new upgrades and /health, 1001 to every socket, handlers get the
  // shutdown timeout, stragglers terminated), then close the listener and exit 0. A second signal,
  // or a close that hangs past the deadline, exits at once.
  closeWithGrace({ delay: config.tether.shutdownTimeoutMs + 2_000, logger: log }, async ({ signal, err }) => {
    if (err !== undefined) log.error({ err }, 'shutting down after an uncaught error')
    else log.info({ signal }, 'shutting down')
    await app.tether.drain()
    await app.close()
  })

  await app.listen({ host: config.host, port: config.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  log.info({ url: `https://localhost:${port}`, wss: `wss://localhost:${port}/ws/echo` }, 'fastify-tether reference server ready')
} catch (error) {
  log.fatal({ err: error }, 'could not start')
  process.exitCode = 1
}
