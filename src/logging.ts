import type { FastifyRequest } from 'fastify'

/** Query parameters that carry credentials and must never reach a log. */
const SECRET_QUERY = /([?&](?:ticket|token|access_token)=)[^&#]*/gi

/**
 * The URL with credential query parameters (`ticket`, `token`, `access_token`) replaced by
 * `[redacted]`. tether already removes tickets from upgrade URLs before routing; this is for
 * everything else a host logs.
 */
export function redactUrl (url: string): string {
  return url.replace(SECRET_QUERY, '$1[redacted]')
}

/**
 * pino serializers for a host's logger: Fastify's request fields with the URL passed through
 * {@link redactUrl}, and no headers (so no Authorization, cookie or subprotocol value).
 * `Fastify({ logger: { serializers: logSerializers } })`.
 */
export const logSerializers = Object.freeze({
  req (request: FastifyRequest) {
    return {
      method: request.method,
      url: redactUrl(request.url),
      host: request.host,
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort
    }
  }
})
