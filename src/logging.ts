import type { FastifyRequest } from 'fastify'

/**
 * Parameter names whose values are credentials, compared after {@link normalizeName}: exactly one
 * of these, or ending in `token`, `ticket`, `jwt`, `apikey`, `secret` or `password`
 * (`auth_token`, `x-api-key`, `csrfToken`).
 */
const SECRET_NAMES = new Set(['ticket', 'token', 'accesstoken', 'idtoken', 'refreshtoken', 'jwt', 'apikey', 'authorization', 'auth', 'password', 'secret'])
const SECRET_SUFFIX = /(?:token|ticket|jwt|apikey|secret|password)$/

/**
 * A JWT (JWS or JWE compact form): a base64url JSON header, which always starts `ey` or `ew`
 * (`{"` or `{` and white space), then two to four more dot-separated base64url segments. Matched
 * anywhere (inside a path segment, a parameter value, an error message), after percent-decoding.
 */
const JWT = /(?<![A-Za-z0-9_-])e[wy][A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){2,4}/g
/** What a redacted value is replaced by. */
export const REDACTED = '[redacted]'

/** Decodes percent-encoding (up to three layers, `+` as space) without ever throwing. */
function decodeLoosely (text: string): string {
  let current = text.replace(/\+/g, ' ')
  for (let i = 0; i < 3 && current.includes('%'); i++) {
    let next: string
    try {
      next = decodeURIComponent(current)
    } catch {
      // Malformed somewhere: decode what is well-formed, escape by escape.
      next = current.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => { try { return decodeURIComponent(run) } catch { return run } })
    }
    if (next === current) break
    current = next
  }
  return current
}

/** A parameter name as compared: decoded, lower case, letters and digits only (`Access-Token[]` → `accesstoken`). */
function normalizeName (name: string): string {
  return decodeLoosely(name).toLowerCase().replace(/[^a-z0-9]/g, '')
}

function isSecretName (name: string): boolean {
  const normalized = normalizeName(name)
  return SECRET_NAMES.has(normalized) || SECRET_SUFFIX.test(normalized)
}

/** True when the text, raw or decoded, holds something shaped like a JWT. */
function looksLikeJwt (text: string): boolean {
  JWT.lastIndex = 0
  if (JWT.test(text)) return true
  JWT.lastIndex = 0
  return text.includes('%') || text.includes('+') ? JWT.test(decodeLoosely(text)) : false
}

/** One path segment or parameter value: unchanged, or `[redacted]` when it holds a JWT. */
function redactPart (part: string): string {
  return looksLikeJwt(part) ? REDACTED : part
}

/**
 * The URL (a request target: path and query, or an absolute URL) safe to log: the values of
 * credential parameters (`ticket`, `token`, `access_token`, `id_token`, `refresh_token`, `jwt`,
 * `api_key`/`apikey` and their kin, whatever their percent-encoding, `+` or letter case) become
 * `[redacted]`, and so does any path segment or value that holds something shaped like a JWT.
 * Parameters are split at `&`, `;`, `?` and `#` alike, so a second `?` or a fragment hides nothing.
 * Never throws, whatever the encoding.
 */
export function redactUrl (url: string): string {
  if (typeof url !== 'string') return url
  const query = url.indexOf('?')
  const path = query === -1 ? url : url.slice(0, query)
  const safePath = path.split('/').map(redactPart).join('/')
  if (query === -1) return safePath
  const safeQuery = url.slice(query + 1).split(/([&;?#])/).map((piece, i) => {
    if (i % 2 === 1 || piece === '') return piece // a separator
    const equals = piece.indexOf('=')
    const name = equals === -1 ? piece : piece.slice(0, equals)
    if (equals === -1) return isSecretName(name) || looksLikeJwt(name) ? REDACTED : piece
    if (isSecretName(name)) return `${name}=${REDACTED}`
    return `${redactPart(name)}=${redactPart(piece.slice(equals + 1))}`
  }).join('')
  return `${safePath}?${safeQuery}`
}

/**
 * `Bearer <credentials>`, `Basic <credentials>` and the like, in free text. The credential must
 * look like one (16 or more token68 characters), so prose such as "token expired" is left alone.
 */
const AUTH_SCHEME = /\b(Bearer|Basic|Digest|Token|Negotiate)(\s+|%20|\+)[A-Za-z0-9\-._~+/%]{16,}=*/gi

/**
 * Free text (a log message, an error message) safe to log: every word that is or holds a URL goes
 * through {@link redactUrl}, every JWT-shaped string and every `Bearer <credentials>` is redacted.
 * Fastify's `Route GET:/x?ticket=... not found` and `'/x?...' is not a valid url component` are such
 * messages. Never throws.
 */
export function redactText (text: string): string {
  if (typeof text !== 'string') return text
  return text
    .replace(AUTH_SCHEME, `$1 ${REDACTED}`)
    .replace(/[^\s"'<>`]+/g, (word) => word.includes('?') || word.includes('/') || word.includes('%') || word.includes('.') ? redactUrl(word) : word)
    .replace(JWT, REDACTED)
}

/** Error properties that may carry a request (raw bytes, headers, a URL or a client's config). */
const DROPPED_ERROR_KEYS = new Set(['rawPacket', 'headers', 'request', 'req', 'response', 'res', 'config', 'socket', 'options'])

interface SerializedError { type: string, message: string, stack?: string, [key: string]: unknown }

/**
 * An error as pino's standard serializer writes it (type, message, stack, own enumerable
 * properties, `cause`), with every string through {@link redactText} and the properties that can
 * carry a request dropped: Node's HTTP parser errors carry the raw request bytes (`rawPacket`:
 * URL, Authorization header and all), HTTP client errors their headers.
 */
function serializeError (error: unknown, depth = 0): unknown {
  if (!(error instanceof Error)) return typeof error === 'string' ? redactText(error) : error
  const out: SerializedError = { type: error.constructor?.name ?? 'Error', message: redactText(error.message) }
  if (typeof error.stack === 'string') out.stack = redactText(error.stack)
  for (const [key, value] of Object.entries(error)) {
    if (DROPPED_ERROR_KEYS.has(key) || key === 'message' || key === 'stack') continue
    if (typeof value === 'string') out[key] = redactText(value)
    else if (value === null || typeof value === 'number' || typeof value === 'boolean') out[key] = value
    else if (value instanceof Error && depth < 3) out[key] = serializeError(value, depth + 1)
  }
  const cause = (error as { cause?: unknown }).cause
  if (cause !== undefined && depth < 3) out['cause'] = serializeError(cause, depth + 1)
  return out
}

/**
 * pino serializers for a host's logger: Fastify's request fields with the URL passed through
 * {@link redactUrl} and no headers (so no Authorization, cookie or subprotocol value); errors
 * through {@link redactText} without the properties that carry a request (`rawPacket`, `headers`).
 * `Fastify({ logger: { serializers: logSerializers, hooks: logHooks } })`.
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
  },
  err: serializeError
})

/**
 * pino hooks for a host's logger: every string argument of a log call (the message and its
 * interpolation values) through {@link redactText}. Serializers see only their own keys; Fastify
 * also writes the raw URL into messages (`Route GET:/x?ticket=... not found`), which this covers.
 */
export const logHooks = Object.freeze({
  logMethod (this: unknown, args: unknown[], method: (...args: unknown[]) => void): void {
    // A bare error (`log.error(err)`): pino would use its raw message as the line's message.
    const first = args[0]
    if (first instanceof Error) args.splice(0, 1, { err: first }, ...(typeof args[1] === 'string' ? [] : [first.message]))
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]
      if (typeof arg === 'string') args[i] = redactText(arg)
    }
    method.apply(this, args)
  }
})
