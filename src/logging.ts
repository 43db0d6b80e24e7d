import type { FastifyRequest } from 'fastify'
import type { LoggerOptions } from 'pino'

/** Query parameters that carry credentials and must never reach a log. */
const SECRET_QUERY = /([?&](?:ticket|token|access_token)=)[^&#]*/gi

/** The URL with credential query parameters replaced by `[redacted]`. */
export function redactUrl (url: string): string {
  return url.replace(SECRET_QUERY, '$1[redacted]')
}

/**
 * pino options for the server: request logs without credentials. Fastify's default request
 * serializer logs the URL, which carries `?ticket=`; headers are not logged at all, and the
 * `authorization` and `cookie` paths are redacted in case a log call adds them.
 */
export function loggerOptions (level: string): LoggerOptions {
  return {
    level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
    serializers: {
      req (request: FastifyRequest) {
        return {
          method: request.method,
          url: redactUrl(request.url),
          host: request.host,
          remoteAddress: request.ip,
          remotePort: request.socket?.remotePort
        }
      }
    }
  }
}
