/**
 * `fastify-tether/metrics`: the tether plugin's Prometheus series through prom-client (an optional
 * peer dependency), registered in the host's registry so one `/metrics` serves them all.
 *
 * ```ts
 * await app.register(tetherPlugin, options)
 * const metrics = tetherMetrics(app, { registry })   // or prom-client's global registry
 * metrics.observeCertificate(certificatePem)
 * ```
 * @packageDocumentation
 */
export { tetherMetrics, HANDSHAKE_BUCKETS, type TetherMetrics, type TetherMetricsOptions } from './metrics/tether-metrics.js'
export { certificateNotAfter } from './metrics/certificate.js'
export { closeCodeLabel, reasonLabel } from './metrics/labels.js'
