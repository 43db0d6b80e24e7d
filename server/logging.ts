import { X509Certificate } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { ConfigError, logHooks, logSerializers } from 'fastify-tether'
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino'
import { prettyFactory } from 'pino-pretty'

/**
 * pino options for the reference server: the library's serializers (URLs without credentials, no
 * headers, errors without the raw request) and hooks (credentials out of every message, such as
 * Fastify's `Route ... not found`), and the `authorization` and `cookie` paths redacted in case a
 * log call adds them. Both output formats use them: the pretty one formats lines pino has already
 * serialized and redacted.
 */
export function loggerOptions (level: string): LoggerOptions {
  return {
    level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
    serializers: logSerializers,
    hooks: logHooks
  }
}

/** How log lines are written: one JSON object per line, or pino-pretty's readable lines. */
export type LogFormat = 'json' | 'pretty'

/**
 * LOG_FORMAT (`json` or `pretty`) when set; otherwise `pretty` when stdout is a terminal and
 * `json` when it is not (a pipe, a file, a container's log driver). Throws a `ConfigError` for
 * any other value.
 */
export function logFormat (env: Record<string, string | undefined>, stdoutIsTTY: boolean): LogFormat {
  const raw = env['LOG_FORMAT']?.trim().toLowerCase()
  if (raw === undefined || raw === '') return stdoutIsTTY ? 'pretty' : 'json'
  if (raw === 'json' || raw === 'pretty') return raw
  throw new ConfigError(`LOG_FORMAT must be json or pretty, got "${env['LOG_FORMAT'] ?? ''}"`)
}

/** The message of the start banner; tests and supervisors wait for it. */
export const READY_MESSAGE = 'fastify-tether reference server ready'

/** The README section that tells browsers (and every other client) how to trust the dev CA. */
export const TRUST_SECTION = 'README "Trust the dev CA"'

/**
 * The reference routes the banner lists, in order, with the scheme a client uses. A path is listed
 * only if the app has a GET route for it, so optional endpoints appear when they exist.
 */
const BANNER_ROUTES: ReadonlyArray<readonly [path: string, scheme: 'https' | 'wss']> = [
  ['/health', 'https'],
  ['/ready', 'https'],
  ['/metrics', 'https'],
  ['/ws/echo', 'wss'],
  ['/ws/feed', 'wss'],
  ['/ws/chat/:room', 'wss']
]

/**
 * The certificate served (the reference server's `LoadedCertificate`): with `devCaPath`, the
 * development CA's; otherwise a real one. `undefined`: plain HTTP behind a TLS-terminating proxy.
 */
export type BannerCertificate = { devCaPath: string | undefined, cert: string | Buffer } | undefined

/** The start banner's fields: one structured log line in JSON, a block in pretty output. */
export interface BannerFields {
  /** The server's https (or, without TLS, http) origin; tools read the port from it. */
  url: string
  /** The echo route's wss (or ws) URL. */
  wss: string
  /** Route pattern → the URL a client uses (`https://` or `wss://`; `http://`, `ws://` without TLS). */
  urls: Record<string, string>
  /** With the development CA: its path and how to trust it. */
  caPath?: string
  trust?: { node: string, curl: string, browsers: string }
  /** With a real certificate: who it names and until when. */
  certificate?: { subject: string, subjectAltNames: string[], notAfter: string }
}

/** What the banner reads from the app: its routes, and the metrics listener when it has one of its own. */
export type BannerApp = Pick<FastifyInstance, 'hasRoute'> & { metrics?: { readonly url: string | undefined } | undefined }

/**
 * The banner's fields for a server listening on `port` with `certificate`. `/metrics` is listed
 * when the app serves it, or at its loopback listener's URL when it has one (METRICS_PORT).
 */
export function bannerFields (app: BannerApp, port: number, certificate: BannerCertificate): BannerFields {
  const plain = certificate === undefined
  const scheme = (name: 'https' | 'wss'): string => plain ? name.slice(0, -1) : name
  const origin = `${scheme('https')}://localhost:${port}`
  const urls: Record<string, string> = {}
  for (const [path, kind] of BANNER_ROUTES) {
    if (app.hasRoute({ method: 'GET', url: path })) urls[path] = `${scheme(kind)}://localhost:${port}${path}`
  }
  const metricsUrl = app.metrics?.url
  if (metricsUrl !== undefined) urls['/metrics'] = metricsUrl
  const fields: BannerFields = { url: origin, wss: `${scheme('wss')}://localhost:${port}/ws/echo`, urls }
  if (certificate === undefined) return fields
  if (certificate.devCaPath !== undefined) {
    fields.caPath = certificate.devCaPath
    fields.trust = {
      node: `NODE_EXTRA_CA_CERTS=${certificate.devCaPath}`,
      curl: `curl --cacert ${certificate.devCaPath} ${origin}/health`,
      browsers: `import the CA as a trusted certificate authority (${TRUST_SECTION})`
    }
  } else {
    fields.certificate = describeCertificate(certificate.cert)
  }
  return fields
}

/** Subject, subjectAltName entries and not-after (ISO 8601) of a PEM certificate's first entry. */
export function describeCertificate (pem: string | Buffer): { subject: string, subjectAltNames: string[], notAfter: string } {
  const x509 = new X509Certificate(pem)
  return {
    subject: x509.subject.split('\n').join(', '),
    subjectAltNames: x509.subjectAltName?.split(', ') ?? [],
    notAfter: new Date(x509.validTo).toISOString()
  }
}

/** The banner's own keys: the pretty format draws them as the block, not as fields below it. */
const BANNER_KEYS = ['url', 'wss', 'urls', 'caPath', 'trust', 'certificate'] as const

function isBanner (log: object): log is Record<string, unknown> & BannerFields {
  const line = log as Record<string, unknown>
  return line['msg'] === READY_MESSAGE && typeof line['urls'] === 'object' && line['urls'] !== null
}

/** The banner as a readable block, one URL or hint per line. */
export function bannerBlock (fields: BannerFields): string {
  const lines = [READY_MESSAGE]
  const width = Math.max(...Object.keys(fields.urls).map((path) => path.length), 0)
  for (const [path, url] of Object.entries(fields.urls)) lines.push(`    ${path.padEnd(width)}  ${url}`)
  if (fields.caPath !== undefined && fields.trust !== undefined) {
    lines.push(`    development CA: ${fields.caPath}`)
    lines.push(`      Node:     ${fields.trust.node} node client.js`)
    lines.push(`      curl:     ${fields.trust.curl}`)
    lines.push(`      browsers: ${fields.trust.browsers}`)
  }
  if (fields.certificate !== undefined) {
    lines.push(`    certificate: ${fields.certificate.subject}`)
    lines.push(`      names:     ${fields.certificate.subjectAltNames.join(', ') || '(no subjectAltName)'}`)
    lines.push(`      not after: ${fields.certificate.notAfter}`)
  }
  return lines.join('\n')
}

/** C0 and C1 control characters, DEL, line separators and bidi/format controls. */
const UNSAFE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu

/**
 * A pino destination writing pino-pretty's readable lines, synchronously, to `destination` (stdout
 * by default). It receives the lines pino has serialized, so the serializers, hooks and redaction
 * of {@link loggerOptions} have already been applied; the start banner becomes a block.
 */
export function prettyDestination (options: { destination?: DestinationStream, colorize?: boolean } = {}): DestinationStream & { flush: (cb: (error?: Error) => void) => void } {
  const out = options.destination ?? pino.destination({ dest: 1, sync: true })
  const customPrettifiers = Object.fromEntries(BANNER_KEYS.map((key) => [key,
    // Returning undefined leaves the key out; any other line shows it as pino-pretty would.
    (value: unknown, _key: string, log: object) => isBanner(log) ? undefined : JSON.stringify(value, null, 2)
  ])) as Record<string, (value: unknown, key: string, log: object) => string>
  const pretty = prettyFactory({
    ...(options.colorize === undefined ? {} : { colorize: options.colorize }),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    // A function message format bypasses pino-pretty's own control-character stripping.
    messageFormat: (log, messageKey) => {
      if (isBanner(log)) return bannerBlock(log)
      const message = log[messageKey]
      return typeof message === 'string' || typeof message === 'number' || typeof message === 'boolean' ? String(message).replace(UNSAFE, '') : ''
    },
    customPrettifiers
  })
  return {
    write (line: string) { out.write(pretty(line)) },
    flush (cb) {
      const flushable = out as { flush?: (cb: (error?: Error) => void) => void }
      if (typeof flushable.flush === 'function') flushable.flush(cb)
      else cb()
    }
  }
}

/**
 * The reference server's process logger: {@link loggerOptions} at `level`, written as JSON or
 * pretty per {@link logFormat}. A bad LOG_FORMAT falls back to the terminal's default and is
 * returned as `formatError`, for the caller to fail the start with it once it can log.
 */
export function serverLogger (level: string, env: Record<string, string | undefined> = process.env, stdoutIsTTY = process.stdout.isTTY === true): { log: Logger, format: LogFormat, formatError: ConfigError | undefined } {
  let format: LogFormat
  let formatError: ConfigError | undefined
  try {
    format = logFormat(env, stdoutIsTTY)
  } catch (error) {
    format = stdoutIsTTY ? 'pretty' : 'json'
    formatError = error as ConfigError
  }
  // An unknown LOG_LEVEL would make pino throw before anything is logged; start at info and let
  // loadConfig refuse it with a `could not start` line that names the variable.
  const options = loggerOptions(level === 'silent' || level in pino.levels.values ? level : 'info')
  const log = format === 'pretty' ? pino(options, prettyDestination()) : pino(options)
  return { log, format, formatError }
}
