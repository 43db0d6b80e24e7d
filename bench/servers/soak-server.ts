// The reference server for bench/soak.ts: buildApp with the configuration read from the
// environment the soak gives it (JWT_SECRET, HANDSHAKE_RATE_PER_MIN, ...), logging at warn, on
// 127.0.0.1 and an ephemeral port printed on stdout as `port=N`. bench/soak-eld.mjs is preloaded
// into it to report its event-loop delay.
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'

const certPem = process.env['BENCH_CERT']
const keyPem = process.env['BENCH_KEY']
if (certPem === undefined || keyPem === undefined) throw new Error('BENCH_CERT and BENCH_KEY must hold PEM')
const config = { ...loadConfig(process.env), host: '127.0.0.1', port: 0, logLevel: 'warn' }
const app = await buildApp({ config, certificate: { cert: certPem, key: keyPem } })
await app.listen({ host: '127.0.0.1', port: 0 })
const address = app.server.address()
process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
process.stdout.write(`port=${typeof address === 'object' && address !== null ? address.port : 0}\n`)
