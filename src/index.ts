/**
 * fastify-tether: secure, lifetime-bound WebSocket routes for Fastify 5.
 * @packageDocumentation
 */
export { tetherPlugin, type TetherOptions, type TetherState, type WsHandler, type WsRouteOptions } from './tether.js'
export { Connection, type CloseInfo, type ConnectionLimits, type ConnectionOptions, type ConnectionStats, type Message, type Reauthenticate, type TopicAuthorizer } from './connection.js'
export { Hub, type PublishOptions, type Subscriber } from './hub/hub.js'
export { PreparedMessage } from './hub/prepared-message.js'
export { InProcessBackplane, type Backplane, type RemoteDelivery } from './hub/backplane.js'
export { RedisBackplane, type BackplaneStats, type RedisBackplaneOptions } from './hub/redis-backplane.js'
export { JsonMessageCodec, errorFrame, type Decoded, type MessageSchemas, type TypedMessage } from './json-messages.js'
export { TokenBucket } from './token-bucket.js'
export { ConnectionGroup, type GroupMember } from './connection-group.js'
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
  RateLimitedError,
  OriginNotAllowedError,
  MissingTokenError,
  InvalidTokenError,
  InvalidTicketError,
  ForbiddenError,
  TooManyConnectionsError,
  TokenExpiredError,
  BadRequestError,
  ERROR_CODES
} from './errors.js'
export { DEFAULTS, MIN_JWT_SECRET_LENGTH, loadConfig, parseOrigins, type AppConfig, type TetherSettings } from './config.js'
export { requireMfa, requireScopes, type ClaimsPolicy, type TokenClaims } from './security/claims.js'
export { Authenticator } from './security/authenticator.js'
export { bearerAuth } from './security/http-auth.js'
export { TicketStore } from './security/ticket-store.js'
export { OriginPolicy } from './security/origin-policy.js'
export { ConnectionCounter } from './security/connection-counter.js'
export { loggerOptions, redactUrl } from './logging.js'
export { MessageQueue, type MessageQueueHooks } from './message-queue.js'
export { ensureDevCertificates, DEV_CERT_HOSTS, type DevCertificates, type DevCertificateOptions } from './tls/dev-certificates.js'
export { secureServerOptions, TLS_CIPHERS, type ServerCertificate } from './tls/server-options.js'
export { loadCertificate, type LoadedCertificate } from './tls/load-certificate.js'
export { buildApp, type BuildAppOptions } from './app.js'
