import { CloseCode } from './close-codes.js'
import type { CloseInfo, Connection } from './connection.js'
import { HandlerFailedError, TetherError } from './errors.js'

type AnyConnection = Connection<unknown, never, unknown>

/**
 * Runs a route handler for the life of its connection: it resolves, the server closes with 1000;
 * it throws, the server closes with 1011 and logs the error with the request id, sending the
 * client nothing of it.
 */
export async function runHandler (connection: AnyConnection, handler: (connection: AnyConnection) => unknown): Promise<void> {
  try {
    await handler(connection)
    connection.close(CloseCode.Normal)
  } catch (cause) {
    if (cause instanceof TetherError && connection.stats.closedBy !== null && !connection.isOpen) {
      // The connection ended under the handler (the client left, the token expired or a refresh
      // was refused, already closed with its own code): an ordinary end, not a server fault.
      connection.request.log.debug({ reason: cause.reason }, 'websocket handler stopped: the connection ended')
      return
    }
    const error = new HandlerFailedError(cause)
    connection.request.log.error({ err: cause }, 'websocket handler failed')
    connection.close(error.closeCode, error.message)
  }
}

/** The one log line every finished connection gets. */
export function logClosed (connection: AnyConnection, route: string, info: CloseInfo): void {
  const stats = connection.stats
  const user = connection.request.user as { sub?: unknown } | null | undefined
  connection.request.log.info({
    route,
    user: user?.sub,
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
