import type { Static, TSchema } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest, RouteGenericInterface, RouteShorthandOptions } from 'fastify'
import type { ClaimsPolicy, TokenClaims } from './auth/claims.js'
import type { IssuedTicket } from './auth/authenticator.js'
import type { Connection, Message, TopicAuthorizer } from './connection.js'
import type { TetherEvents } from './events.js'
import type { TetherError } from './errors.js'
import type { Hub } from './hub/hub.js'
import type { MessageSchemas, TypedMessage } from './json-messages.js'
import type { TetherSettings } from './options.js'
import type { Readiness, ReadinessOptions } from './readiness.js'
import type { RequestRateLimit } from './security/request-limit.js'

/** The generic a WebSocket route takes, as `app.get` does: `Params`, `Querystring`, `Headers`. */
export interface WsRouteGeneric {
  Params?: unknown
  Querystring?: unknown
  Headers?: unknown
}

/**
 * The request of a WebSocket route, as its handler sees it: Fastify's request with the route's
 * params and querystring typed, and `user` typed by the route's `auth` (`null` on public routes).
 */
export type TetherRequest<RG extends WsRouteGeneric = WsRouteGeneric, User = TokenClaims | null> =
  Omit<FastifyRequest<RG & RouteGenericInterface>, 'user'> & { user: User }

/**
 * Authorization of one route, after authentication and before the upgrade, with the request (its
 * params, its user): return true to allow or a snake_case reason to refuse with 403. Run again when
 * the connection refreshes its token; a refusal then closes it with 1008.
 */
export type RouteAuthorizer<RG extends WsRouteGeneric = WsRouteGeneric> =
  (request: TetherRequest<RG, TokenClaims>) => true | string | Promise<true | string>

/**
 * Options of one WebSocket route. Besides the options below it takes Fastify's route options
 * (`onRequest`, `preValidation` and `preHandler` hooks, `config`, `schema` for params and
 * querystring, `logLevel`). Everything runs before the upgrade: a hook that replies or throws a
 * `TetherError` refuses the client with an HTTP status, and a schema failure is a 400.
 */
export interface WsRouteOptions<RG extends WsRouteGeneric = WsRouteGeneric> extends Omit<RouteShorthandOptions, 'websocket' | 'handler' | 'schema'> {
  /**
   * Authentication, checked before the upgrade. `true` (the default): the plugin's scheme must
   * authenticate the request (its credentials or a ticket). `{ require }`: also a claims policy,
   * which returns true or a refusal reason (403). `false`: a public route (`request.user` is null).
   */
  auth?: boolean | { require: ClaimsPolicy }
  /** The route's own authorization with the request (see {@link RouteAuthorizer}). Needs auth. */
  authorize?: RouteAuthorizer<RG>
  /** Refuse upgrades without an Origin header (only browsers send one). Default false. */
  requireOrigin?: boolean
  /** TypeBox (JSON) schemas of params and querystring, checked before the upgrade (400). */
  schema?: WsRouteSchema
  /**
   * The JSON messages this route reads. With it, `messages()` yields parsed, validated, typed
   * messages; invalid JSON, a schema failure or an unknown type get an error frame instead, and
   * `auth.refresh` is handled by the framework on routes with auth.
   */
  messages?: MessageSchemas
  /**
   * This route's incoming message rate (token bucket), or false for none. Default: the plugin's
   * `messageRatePerSec` and `messageBurst`. Over the rate the connection is closed with 1008.
   */
  messageRate?: { perSec: number, burst: number } | false
  /** Negotiate permessage-deflate on this route (needs the plugin's `compression`). Default false. */
  compress?: boolean
  /**
   * Subprotocols this route speaks, in the server's order of preference; the first one the client
   * offers is selected. `tether` (offered by clients presenting a ticket) is always accepted.
   */
  protocols?: readonly string[]
  /**
   * Who may subscribe to which hub topic on this route; `connection.subscribe(topic)` asks it
   * every time. Without it every topic is allowed.
   */
  authorizeTopic?: TopicAuthorizer
}

/** The schemas a route may declare for what is checked before the upgrade. */
export interface WsRouteSchema {
  params?: TSchema
  querystring?: TSchema
  headers?: TSchema
}

type StaticOr<S, Fallback> = S extends TSchema ? Static<S> : Fallback

/** The route generic its TypeBox schemas imply. */
export interface GenericOfSchema<S extends WsRouteSchema> {
  Params: StaticOr<S['params'], unknown>
  Querystring: StaticOr<S['querystring'], unknown>
  Headers: StaticOr<S['headers'], unknown>
}

/** What `auth` may be on a route. */
export type RouteAuth = boolean | { require: ClaimsPolicy }

/** `null` on `auth: false` routes, the verified claims otherwise. */
export type UserOf<A extends RouteAuth> = A extends false ? null : TokenClaims

/** The messages a route's handler reads: typed by `messages`, or strings and Buffers. */
export type MessageOf<M extends MessageSchemas | undefined> = M extends MessageSchemas ? TypedMessage<M> : Message

/**
 * A route handler. Its promise is the connection: when it resolves the server closes with 1000,
 * when it throws the server closes with 1011 and logs the error; the client sees neither the
 * message nor the stack.
 */
export type WsHandler<TMessage = Message, RG extends WsRouteGeneric = WsRouteGeneric, User = TokenClaims | null> =
  (connection: Connection<TMessage, RG, User>) => void | Promise<void>

/**
 * `app.ws(path, [options], handler)`: declares a WebSocket route. Its types come from the options:
 * `auth: false` makes `user` null, `messages` types the messages, `schema.params` and
 * `schema.querystring` type the params and querystring (and check them before the upgrade). As
 * with `app.get`, an explicit generic also works: `app.ws<{ Params: { room: string } }>(...)`.
 */
export interface WsDecorator<Instance> {
  <S extends WsRouteSchema = object, M extends MessageSchemas | undefined = undefined, const A extends RouteAuth = true>(
    path: string,
    options: Omit<WsRouteOptions<GenericOfSchema<S>>, 'schema' | 'messages' | 'auth'> & { schema?: S, messages?: M, auth?: A },
    handler: WsHandler<MessageOf<M>, GenericOfSchema<S>, UserOf<A>>
  ): Instance
  <RG extends WsRouteGeneric>(
    path: string,
    options: WsRouteOptions<RG>,
    handler: WsHandler<Message, RG, TokenClaims | null>
  ): Instance
  (path: string, handler: WsHandler<Message, WsRouteGeneric, TokenClaims>): Instance
}

/** Live state of the tether plugin, decorated as `app.tether`. */
export interface TetherState {
  /** The resolved numeric settings, frozen. */
  readonly settings: Readonly<TetherSettings>
  /**
   * The observation hook, for metrics (`fastify-tether/metrics`) and tracing: typed listeners of
   * connections opened and closed, server closes, slow consumers, refusals and hub publishes.
   * Nothing is computed for an event nobody listens to, and nothing is emitted per message.
   */
  readonly events: TetherEvents
  /** Connections whose handler or socket is still running. */
  readonly connectionCount: number
  /** True from the moment the server starts closing. */
  readonly shuttingDown: boolean
  /** Upgrades (and tether-authenticated requests) refused, by reason (`rate_limited`, `missing_token`, ...). */
  readonly refusals: Readonly<Record<string, number>>
  /** Closes the server initiated, by close code (1006 counts terminations). */
  readonly serverCloses: Readonly<Record<string, number>>
  /** The origins allowed to open WebSockets. */
  readonly allowedOrigins: readonly string[]
  /**
   * Begins a graceful shutdown while the listener stays open: upgrades get 503, every connection
   * is closed with 1001, handlers get `shutdownTimeoutMs`, stragglers are terminated. Call it
   * before `app.close()` (which also calls it); resolves when the connections are gone.
   */
  readonly drain: () => Promise<void>
  /**
   * Whether this instance should get new traffic, for a readiness probe: not while starting (the
   * app is not ready or the server is not listening), not while draining, and, with
   * `requireBackplane`, not while the backplane says it is disconnected (`Backplane.connected`).
   * Computed on each call from counters; costs nothing.
   */
  readonly readiness: (options?: ReadinessOptions) => Readiness
  /**
   * Refuses a request the framework's way: the error's status and `{"error","message"}` body, one
   * info log line with reason and IP, a count by reason. Throwing the `TetherError` from a route hook
   * does the same.
   */
  readonly refuse: (request: FastifyRequest, reply: FastifyReply, error: TetherError) => Promise<void>
  /**
   * Authenticates a plain HTTP request with the plugin's scheme (no tickets): the claims, or a
   * thrown `TetherError` (401). Throws a `TypeError` when the plugin has no `auth`.
   */
  readonly authenticate: (request: FastifyRequest) => Promise<TokenClaims>
  /** Issues a single-use ticket carrying `claims`. Throws a `TypeError` when the plugin has no `auth`. */
  readonly issueTicket: (claims: TokenClaims) => IssuedTicket
  /**
   * The per-IP and per-user budgets of an HTTP endpoint named `name` that mints, pushes or
   * authenticates: `perMin` requests a minute each (default `httpRatePerMin`; 0 disables), over
   * which the client gets 429 `rate_limited` with Retry-After, logged and counted. Put `byAddress`
   * in the route's `onRequest` and `byUser` in its `preHandler` after the authentication. Uses the
   * host's @fastify/rate-limit when there is one.
   */
  readonly rateLimit: (name: string, perMin?: number) => RequestRateLimit
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Declares a WebSocket route (fastify-tether); see {@link WsDecorator}. */
    ws: WsDecorator<FastifyInstance>
    /** Live state of the fastify-tether plugin. */
    tether: TetherState
    /** Topics and fan-out (fastify-tether): `app.hub.publish(topic, message)`. */
    hub: Hub
  }
}
