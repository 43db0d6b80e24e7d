/**
 * fastify-tether: secure, lifetime-bound WebSocket routes for Fastify 5.
 * @packageDocumentation
 */
export { tetherPlugin, type TetherOptions, type TetherState, type WsHandler, type WsRouteOptions } from './tether.js'
export { Connection, type CloseInfo, type ConnectionLimits, type ConnectionStats, type Message } from './connection.js'
export { ConnectionGroup } from './connection-group.js'
export { CloseCode, isSendableCloseCode, type CloseCodeValue } from './close-codes.js'
export {
  TetherError,
  ConnectionClosedError,
  UpgradeRequiredError,
  HandlerFailedError,
  ShuttingDownError,
  SlowConsumerError,
  InvalidCloseCodeError,
  ConfigError,
  ERROR_CODES
} from './errors.js'
export { DEFAULTS, loadConfig, type AppConfig, type TetherSettings } from './config.js'
export { MessageQueue, type MessageQueueHooks } from './message-queue.js'
export { ensureDevCertificates, DEV_CERT_HOSTS, type DevCertificates, type DevCertificateOptions } from './tls/dev-certificates.js'
export { secureServerOptions, TLS_CIPHERS, type ServerCertificate } from './tls/server-options.js'
export { loadCertificate, type LoadedCertificate } from './tls/load-certificate.js'
export { buildApp, type BuildAppOptions } from './app.js'
