import { logHooks, logSerializers } from 'fastify-tether'
import type { LoggerOptions } from 'pino'

/**
 * pino options for the reference server: the library's serializers (URLs without credentials, no
 * headers, errors without the raw request) and hooks (credentials out of every message, such as
 * Fastify's `Route ... not found`), and the `authorization` and `cookie` paths redacted in case a
 * log call adds them.
 */
export function loggerOptions (level: string): LoggerOptions {
  return {
    level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
    serializers: logSerializers,
    hooks: logHooks
  }
}
