import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { loadConfig } from './config.js'
import { loadCertificate, watchServerCertificate } from './certificate.js'
import { bannerFields, READY_MESSAGE, serverLogger } from './logging.js'

// The process entry of the reference server. In production: `npm run build`, then
// `node dist/server/main.js` as the process itself (PID 1 in a container, or systemd's main PID),
// so SIGTERM reaches it. `npm start` builds and then `exec`s the same command.
// JSON lines, or readable ones on a terminal (LOG_FORMAT=json|pretty overrides); both redacted alike.
const { log, formatError } = serverLogger(process.env['LOG_LEVEL'] ?? 'info')

/** The signals that shut the server down (drain, close, exit 0). */
const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const

/**
 * Signals that terminate a Node process by default and that something may send by habit (a
 * terminal's hangup, a log rotator's SIGUSR2, SIGQUIT for a dump): here they are logged and
 * ignored. SIGHUP reloads the certificate (below).
 */
const IGNORED_SIGNALS = {
  SIGUSR2: 'SIGUSR2 ignored: only SIGTERM and SIGINT shut the server down',
  SIGQUIT: 'SIGQUIT ignored: only SIGTERM and SIGINT shut the server down'
} as const

// close-with-grace listens to every terminating signal by default (SIGHUP, SIGQUIT, SIGUSR2 and the
// fault signals too); only SIGTERM and SIGINT may start a shutdown here. Faults keep Node's default.
const CLOSE_WITH_GRACE_SIGNALS: closeWithGrace.AllEvents[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGUSR2', 'SIGTERM']
const skip = CLOSE_WITH_GRACE_SIGNALS.filter((signal) => !(SHUTDOWN_SIGNALS as readonly string[]).includes(signal))

/** Logs, flushes the log and exits: nothing left running (timers, sockets, handlers) keeps a failed process alive. */
function exitAfterLog (code: number): void {
  process.exitCode = code
  // The flush callback normally comes at once; the timer bounds a stuck destination.
  setTimeout(() => process.exit(code), 2_000).unref()
  log.flush(() => process.exit(code))
}

for (const [signal, message] of Object.entries(IGNORED_SIGNALS)) {
  process.on(signal, () => { log.warn({ signal }, message) })
}

// SIGHUP: read TLS_CERT/TLS_KEY (or the development pair, re-issued if it nears expiry) again and
// serve the new pair if it is valid; open connections are untouched. The outcome is logged.
let certificates: ReturnType<typeof watchServerCertificate> | undefined
process.on('SIGHUP', () => {
  if (certificates === undefined) {
    log.warn({ signal: 'SIGHUP' }, 'SIGHUP ignored: no certificate to reload (starting, or TLS=off)')
    return
  }
  log.info({ signal: 'SIGHUP' }, 'SIGHUP: reloading the certificate')
  certificates.reload('SIGHUP').catch(() => {}) // never rejects: the outcome is logged
})

let grace: ReturnType<typeof closeWithGrace> | undefined
try {
  if (formatError !== undefined) throw formatError
  const config = loadConfig()
  if (config.jwtSecretGenerated) {
    log.warn('JWT_SECRET is not set: using a random secret for this process only (tokens do not survive a restart); set JWT_SECRET to keep them')
  }
  // TLS=off (plain HTTP on loopback behind a TLS-terminating proxy): no certificate at all.
  const certificate = config.plainHttp ? undefined : await loadCertificate(config, log)
  if (config.plainHttp) log.warn({ host: config.host }, 'TLS=off: serving plain HTTP (ws://) for a TLS-terminating proxy; never expose this listener')
  const app = await buildApp({ config, certificate, loggerInstance: log.child({}, { level: config.logLevel }) })
  // Certificate hot reload: on SIGHUP, when the files change, and daily (server/certificate.ts).
  // The certificate-expiry metric follows every reload (plugins/metrics.ts, when metrics are on).
  if (certificate !== undefined) {
    certificates = watchServerCertificate(app.server, config, certificate, app.log, {
      onLoad: ({ cert }) => app.metrics?.observeCertificate(cert)
    })
  }

  // SIGTERM/SIGINT: drain (503 for new upgrades and /health, 1001 to every socket, handlers get the
  // shutdown timeout, stragglers terminated), then close the listener and exit 0. A second signal,
  // or a close that hangs past the deadline, exits at once (1).
  grace = closeWithGrace({ delay: config.tether.shutdownTimeoutMs + 2_000, logger: log, skip }, async ({ signal, err }) => {
    if (err !== undefined) log.error({ err }, 'shutting down after an uncaught error')
    else log.info({ signal }, 'shutting down')
    certificates?.close()
    await app.tether.drain()
    await app.close()
  })

  await app.listen({ host: config.host, port: config.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  // The start banner: every route's URL, and the CA to trust (dev) or the certificate's names and
  // expiry (real). One JSON line, or a block in pretty output.
  log.info(bannerFields(app, port, certificate), READY_MESSAGE)
} catch (error) {
  // A start that fails (a bad variable, the port in use, an unreadable certificate) exits non-zero
  // at once: the app may already have started timers (heartbeat, feed, rate-limit store) in its
  // onReady hooks, and close-with-grace's listeners would turn the idle loop into an exit 0.
  log.fatal({ err: error }, 'could not start')
  grace?.uninstall()
  exitAfterLog(1)
}
