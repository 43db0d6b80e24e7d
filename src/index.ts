/**
 * fastify-tether: secure, lifetime-bound WebSocket routes for Fastify 5.
 *
 * The main entry stays light: no Redis client, no X.509 stack. The Redis backplane is
 * `fastify-tether/redis`, the development CA `fastify-tether/dev-certs`, the tap kit
 * `fastify-tether/testing`.
 * @packageDocumentation
 */
import { tetherPlugin } from './plugin.js'

export { tetherPlugin }
export default tetherPlugin
export { parseOrigin } from './security/origin-policy.js'
export { TETHER_DEFAULTS, type PressureOptions, type TetherOptions, type TetherSettings } from './options.js'
export type { TetherState, WsHandler, WsRouteOptions, WsRouteGeneric, WsDecorator, TetherRequest, RouteAuthorizer, UserOf, MessageOf, RouteAuth, WsRouteSchema, GenericOfSchema } from './types.js'
export { Connection, type CloseInfo, type ConnectionLimits, type ConnectionOptions, type ConnectionStats, type Message, type Reauthenticate, type TopicAuthorizer } from './connection.js'
export { ConnectionGroup, type GroupMember } from './connection-group.js'
export type { TetherEvents, TetherEventMap, TetherListener, ConnectionOpenedEvent, ConnectionClosedEvent, ServerCloseEvent, SlowConsumerEvent, RefusalEvent, HubPublishEvent } from './events.js'
export { Hub, type PublishOptions, type Subscriber } from './hub/hub.js'
export { PreparedMessage } from './hub/prepared-message.js'
export { InProcessBackplane, type Backplane, type RemoteDelivery } from './hub/backplane.js'
export { errorFrame, type MessageSchemas, type TypedMessage } from './json-messages.js'
export { CloseCode, isSendableCloseCode, type CloseCodeValue } from './close-codes.js'
export {
  TetherError,
  ConnectionClosedError,
  UpgradeRequiredError,
  HandlerFailedError,
  ShuttingDownError,
  OverloadedError,
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
  InvalidHandshakeError,
  UnsupportedVersionError,
  NotWebSocketRouteError,
  ERROR_CODES,
  ERROR_TABLE,
  type TetherErrorCode,
  type TetherErrorOptions
} from './errors.js'
export { requireMfa, requireScopes, validateClaims, type ClaimsPolicy, type TokenClaims } from './auth/claims.js'
export type { AuthScheme } from './auth/scheme.js'
export type { IssuedTicket } from './auth/authenticator.js'
export { jwtAuth, type JwtAuthOptions, type JwtSecretOptions, type JwtPublicKeyOptions, type JwtJwksOptions, type PublicKeyAlgorithm } from './auth/jwt.js'
export { fastifyJwtAuth, type FastifyJwtAuthOptions } from './auth/fastify-jwt.js'
export { bearerToken } from './auth/bearer.js'
export { httpAuth } from './auth/http-auth.js'
export { ticketProtocols, ticketQuery, TETHER_PROTOCOL, TICKET_PROTOCOL_PREFIX } from './auth/ticket-transport.js'
export { redactUrl, redactText, logSerializers, logHooks } from './logging.js'
export { secureServerOptions, TLS_CIPHERS, type ServerCertificate } from './tls/server-options.js'
export { watchCertificate, validateCertificatePair, CertificateRejectedError, type CertificateWatcher, type WatchCertificateOptions, type CertificateInfo, type CertificateReloadResult, type ReloadTrigger } from './tls/certificate-reloader.js'
export type { Readiness, ReadinessOptions, NotReadyReason } from './readiness.js'
export { limitSockets, defaultMaxSockets, SOCKET_LIMIT_DEFAULTS, type SocketLimiter, type SocketLimitOptions, type SocketLimitStats } from './security/socket-limits.js'
export type { RequestRateLimit, LimitHook } from './security/request-limit.js'
