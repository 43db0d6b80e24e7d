import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, RouteOptions, RouteShorthandOptions } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { WebSocket } from 'ws'
import { CloseCode } from './close-codes.js'
import { DEFAULTS, type TetherSettings } from './config.js'
import { Connection, type CloseInfo } from './connection.js'
import { ConnectionClosedError, HandlerFailedError, ShuttingDownError, UpgradeRequiredError } from './errors.js'

/** Options of the tether plugin; every one defaults to `DEFAULTS.tether`. */
export type TetherOptions = Partial<TetherSettings>

/**
 * A route handler. Its promise is the connection: when it resolves the server closes with 1000,
 * when it throws the server closes with 1011 and logs the error; the client sees neither the
 * message nor the stack.
 */
export type WsHandler = (connection: Connection) => void | Promise<void>

/**
 * Options of one WebSocket route: Fastify's route options (hooks such as `onRequest` and
 * `preValidation`, `config`, `schema` for params and querystring, `logLevel`). Every hook runs
 * before the upgrade, so a hook that replies refuses the client with an HTTP status.
 */
export type WsRouteOptions = Omit<RouteShorthandOptions, 'websocket' | 'handler'>

/** Live state of the tether plugin, decorated as `app.tether`. */
export interface TetherState {
  /** The resolved settings, frozen. */
  readonly settings: Readonly<TetherSettings>
  /** Connections whose handler or socket is still running. */
  readonly connectionCount: number
  /** True from the moment the server starts closing. */
  readonly shuttingDown: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Declares a WebSocket route at `path`. Pre-upgrade checks are the route's hooks; the handler
     * gets a {@link Connection} whose lifetime is the handler's promise. A plain GET gets 426.
     */
    ws: ((path: string, options: WsRouteOptions, handler: WsHandler) => FastifyInstance) &
    ((path: string, handler: WsHandler) => FastifyInstance)
    /** Live state of the tether plugin. */
    tether: TetherState
  }
}

interface LiveConnection {
  connection: Connection
  /** Settles when both the handler has finished and the socket has closed. */
  finished: Promise<void>
}

const tether: FastifyPluginAsync<TetherOptions> = async (app, options) => {
  const settings: Readonly<TetherSettings> = Object.freeze({ ...DEFAULTS.tether, ...options })
  const live = new Set<LiveConnection>()
  let shuttingDown = false

  await app.register(websocket, {
    options: {
      maxPayload: settings.maxPayloadBytes,
      perMessageDeflate: false,
      clientTracking: false,
      closeTimeout: settings.closeTimeoutMs
    } as Record<string, unknown>,
    // ws has already answered a protocol error with the right close code (1002, 1007, 1009);
    // the default handler would terminate the socket before that close frame is flushed.
    errorHandler (error, _socket, request) {
      const code = (error as Error & { code?: string }).code
      request.log.info({ err: { message: error.message, code } }, 'websocket protocol error')
    },
    preClose (done) {
      shuttingDown = true
      const error = new ShuttingDownError()
      for (const entry of live) entry.connection.close(error.closeCode, error.message)
      done()
    }
  })

  app.addHook('onClose', async () => {
    await settleWithin([...live].map((entry) => entry.finished), settings.shutdownTimeoutMs)
    for (const entry of live) {
      entry.connection.request.log.warn('terminating websocket that outlived the shutdown timeout')
      entry.connection.terminate()
    }
  })

  const state: TetherState = {
    settings,
    get connectionCount () { return live.size },
    get shuttingDown () { return shuttingDown }
  }
  app.decorate('tether', state)

  function accept (socket: WebSocket, request: FastifyRequest, handler: WsHandler): void {
    const connection = new Connection(socket, request, settings)
    const route = request.routeOptions.url ?? request.url
    const entry: LiveConnection = {
      connection,
      finished: Promise.all([runHandler(connection, handler), connection.closed.then((info) => logClosed(connection, route, info))]).then(() => {
        live.delete(entry)
      })
    }
    live.add(entry)
  }

  function ws (this: FastifyInstance, path: string, optionsOrHandler: WsRouteOptions | WsHandler, maybeHandler?: WsHandler): FastifyInstance {
    const routeOptions = typeof optionsOrHandler === 'function' ? {} : optionsOrHandler
    const handler = typeof optionsOrHandler === 'function' ? optionsOrHandler : maybeHandler
    if (typeof handler !== 'function') {
      throw new TypeError(`app.ws('${path}') needs a handler function`)
    }
    const onRequest = [refuseWhileShuttingDown, ...toArray(routeOptions.onRequest)]
    this.route({
      ...routeOptions,
      method: 'GET',
      url: path,
      onRequest,
      handler: replyUpgradeRequired,
      wsHandler: (socket: WebSocket, request: FastifyRequest) => accept(socket, request, handler)
    } as RouteOptions)
    return this
  }
  app.decorate('ws', ws as FastifyInstance['ws'])

  async function refuseWhileShuttingDown (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (!shuttingDown) return
    const error = new ShuttingDownError()
    await reply.code(error.statusCode).header('connection', 'close').send({ error: 'shutting_down', message: error.message })
  }
}

async function runHandler (connection: Connection, handler: WsHandler): Promise<void> {
  try {
    await handler(connection)
    connection.close(CloseCode.Normal)
  } catch (cause) {
    if (cause instanceof ConnectionClosedError && connection.stats.closedBy === 'client') {
      // The peer left while the handler was sending: an ordinary end, not a server fault.
      connection.request.log.debug('websocket handler stopped: the client closed the connection')
      return
    }
    const error = new HandlerFailedError(cause)
    connection.request.log.error({ err: cause }, 'websocket handler failed')
    connection.close(error.closeCode, error.message)
  }
}

async function replyUpgradeRequired (_request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const error = new UpgradeRequiredError()
  await reply
    .code(error.statusCode)
    .header('upgrade', 'websocket')
    .header('connection', 'Upgrade')
    .send({ error: 'upgrade_required', message: error.message })
}

/** The one log line every finished connection gets. */
function logClosed (connection: Connection, route: string, info: CloseInfo): void {
  const stats = connection.stats
  connection.request.log.info({
    route,
    durationMs: Math.round(performance.now() - connection.openedAt),
    code: info.code,
    reason: info.reason,
    closedBy: stats.closedBy,
    messagesIn: stats.messagesIn,
    bytesIn: stats.bytesIn,
    messagesOut: stats.messagesOut,
    bytesOut: stats.bytesOut
  }, 'websocket closed')
}

function toArray<T> (value: T | T[] | undefined): T[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}

/** Resolves when every promise has settled or `timeoutMs` has passed, whichever comes first. */
async function settleWithin (promises: Array<Promise<unknown>>, timeoutMs: number): Promise<void> {
  if (promises.length === 0) return
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs) })
  await Promise.race([Promise.allSettled(promises), timeout])
  clearTimeout(timer)
}

/**
 * The fastify-tether plugin: registers @fastify/websocket with safe defaults, decorates
 * `app.ws(path, options, handler)` and `app.tether`, and on close shuts every connection down with
 * 1001, waiting up to `shutdownTimeoutMs` for handlers before terminating what is left.
 */
export const tetherPlugin = fp(tether, { fastify: '5.x', name: 'fastify-tether' })
