import type { X509Certificate } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { isIP, connect as netConnect } from 'node:net'
import { performance } from 'node:perf_hooks'
import { WebSocket, type ClientOptions, type RawData } from 'ws'
import { TETHER_PROTOCOL, TICKET_PROTOCOL_PREFIX, ticketProtocols } from '../../auth/ticket-transport.js'
import { explainCloseCode, explainRefusal, type Explanation } from './explain.js'
import {
  DATE_ERRORS, UNTRUSTED_ERRORS, bundleSubjects, commonName, explainHandshakeFailure, handshake, namesHost,
  oneLine, selfSigned, subjectAltNames, type Handshake, type TlsTarget
} from './tls.js'

/** The links of the chain, in the order the doctor walks them. */
export type DoctorStepName = 'dns' | 'tcp' | 'tls' | 'trust' | 'hostname' | 'validity' | 'upgrade' | 'subprotocol' | 'round-trip' | 'close'

/** One checked link: whether it works, what the doctor saw, and, when broken, the exact fix. */
export interface DoctorStep {
  step: DoctorStepName
  ok: boolean
  detail: string
  fix?: string
}

/** What `fastify-tether doctor` found: every step walked (it stops at the first broken one) and a summary. */
export interface DoctorReport {
  url: string
  /** True when every link is healthy. */
  ok: boolean
  steps: DoctorStep[]
  /** One sentence: healthy (with the round-trip latency), or which link broke. */
  summary: string
  /** The round trip's latency, when a message came back. */
  latencyMs?: number
}

/** What to check and how to connect. */
export interface DoctorOptions {
  /** A `wss://` (or `ws://`) URL. */
  url: string
  /** Sent as the Origin header, as a browser would. */
  origin?: string | undefined
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string | undefined
  /** Sent as subprotocol entries (`ticketProtocols`), never in the URL. */
  ticket?: string | undefined
  /** Subprotocols to offer. */
  protocols?: readonly string[] | undefined
  /** A PEM file of the CA(s) to trust instead of Node's trust store. */
  caFile?: string | undefined
  /** More request headers. */
  headers?: Readonly<Record<string, string>> | undefined
  /** Bound of every step, in ms. Default 5000. */
  timeoutMs?: number | undefined
  /** The text message sent for the round trip. */
  message?: string | undefined
}

/** A usage mistake (bad URL, unreadable --ca file): the command exits 2. */
export class DoctorUsageError extends Error {
  override name = 'DoctorUsageError'
}

/** Default bound of each step. */
export const DOCTOR_TIMEOUT_MS = 5_000

/**
 * Walks the chain a WebSocket connection goes through (DNS, TCP, TLS version and cipher, certificate
 * trust, host name, validity, the HTTP upgrade, the subprotocol, one round trip, the close) and stops
 * at the first broken link, saying what is wrong and the exact fix. Certificate verification is never
 * turned off for the connection itself, and no fix ever suggests it.
 * @throws {@link DoctorUsageError} for a URL that is not ws:// or wss://, or an unreadable --ca file.
 */
export async function runDoctor (options: DoctorOptions): Promise<DoctorReport> {
  const url = parseUrl(options.url)
  const timeoutMs = options.timeoutMs ?? DOCTOR_TIMEOUT_MS
  const ca = options.caFile === undefined ? undefined : { path: options.caFile, pem: await readCa(options.caFile) }
  const secure = url.protocol === 'wss:'
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port)
  const steps: DoctorStep[] = []
  const report = (summary: string, latencyMs?: number): DoctorReport => {
    const ok = steps.every((step) => step.ok)
    return { url: url.href, ok, steps, summary, ...(latencyMs === undefined ? {} : { latencyMs }) }
  }
  const fail = (step: DoctorStepName, explanation: Explanation): DoctorReport => {
    steps.push({ step, ok: false, detail: explanation.detail, fix: explanation.fix })
    return report(`broken at ${step}: ${explanation.detail}`)
  }

  // DNS
  let addresses: string[]
  if (isIP(host) !== 0) {
    addresses = [host]
    steps.push({ step: 'dns', ok: true, detail: `${host} is an address (no lookup)` })
  } else {
    try {
      const found = await bounded(lookup(host, { all: true }), timeoutMs, 'ETIMEDOUT')
      addresses = found.map((entry) => entry.address)
      steps.push({ step: 'dns', ok: true, detail: `${host} → ${addresses.join(', ')}` })
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error'
      return fail('dns', code === 'ENOTFOUND' || code === 'ENODATA'
        ? { detail: `${host} does not resolve (${code})`, fix: `check the spelling of ${host}: it must be in DNS or /etc/hosts (a local server is localhost or 127.0.0.1)` }
        : { detail: `looking up ${host} failed (${code})`, fix: 'the resolver did not answer: check this machine\'s network and DNS settings (/etc/resolv.conf)' })
    }
  }

  // TCP
  const tried: string[] = []
  let address: string | undefined
  let connectMs = 0
  for (const candidate of addresses) {
    const started = performance.now()
    const outcome = await tcpConnect(candidate, port, timeoutMs)
    if (outcome === 'ok') {
      address = candidate
      connectMs = performance.now() - started
      break
    }
    tried.push(`${candidate}: ${outcome}`)
  }
  if (address === undefined) {
    const timedOut = tried.every((entry) => entry.endsWith('ETIMEDOUT'))
    return fail('tcp', timedOut
      ? { detail: `no answer from ${host}:${port} within ${timeoutMs} ms (${tried.join('; ')})`, fix: `a firewall drops the packets or the host is down: check that the server runs and that ${port} is open between here and there` }
      : { detail: `nothing accepts connections on ${host}:${port} (${tried.join('; ')})`, fix: `start the server, or check the port: the server must listen on ${port} at ${addresses.join(' or ')} (the reference server's PORT and HOST)` })
  }
  steps.push({ step: 'tcp', ok: true, detail: `connected to ${formatAddress(address)}:${port} in ${formatMs(connectMs)}${tried.length > 0 ? ` (${tried.join('; ')})` : ''}` })

  const target: TlsTarget = { host, address, port, ca, timeoutMs }
  if (secure) {
    const broken = await checkTls(target, url, steps)
    if (broken !== undefined) return fail(broken.step, broken)
  }
  return await checkWebSocket(url, options, target, steps, report, fail)
}

type Fail = (step: DoctorStepName, explanation: Explanation) => DoctorReport

async function checkTls (target: TlsTarget, url: URL, steps: DoctorStep[]): Promise<(Explanation & { step: DoctorStepName }) | undefined> {
  const result = await handshake(target)
  if (!('protocol' in result)) return { step: 'tls', ...await explainHandshakeFailure(target, result) }
  steps.push({ step: 'tls', ok: true, detail: `${result.protocol}, ${result.cipher}` })

  const [leaf] = result.chain
  if (leaf === undefined) return { step: 'trust', detail: 'the server sent no certificate', fix: 'configure the server with a certificate and its key' }
  const trustedBy = target.ca === undefined ? 'Node\'s trust store' : `--ca ${target.ca.path}`
  const error = result.authorizationError
  if (error !== undefined && !DATE_ERRORS.has(error)) return { step: 'trust', ...explainUntrusted(result, target, url) }
  const root = result.chain[result.chain.length - 1] ?? leaf
  steps.push({ step: 'trust', ok: true, detail: `issued by ${commonName(root.subject)}, trusted by ${trustedBy}` })

  const names = subjectAltNames(leaf)
  const mismatch = namesHost(target.host, result.peer)
  if (mismatch !== undefined) {
    return {
      step: 'hostname',
      detail: `the certificate does not name ${target.host}; it names ${names.length === 0 ? `no subjectAltName (subject ${oneLine(leaf.subject)})` : names.join(', ')}`,
      fix: `connect with a name the certificate lists${names.length === 0 ? '' : ` (${names.map((name) => name.replace(/^(DNS|IP):/, '')).join(', ')})`}, or issue the server a certificate whose subjectAltName includes ${target.host}${isDevelopment(result.chain) ? ` (a development certificate: \`npx fastify-tether cert --hosts ${target.host}\` in the server's directory re-issues it under the same CA with that name too)` : ''}`
    }
  }
  steps.push({ step: 'hostname', ok: true, detail: `${target.host} matches ${names.join(', ')}` })

  const now = Date.now()
  for (const [index, certificate] of result.chain.entries()) {
    const from = new Date(certificate.validFrom)
    const to = new Date(certificate.validTo)
    const which = index === 0 ? 'the server\'s certificate' : `its issuer ${commonName(certificate.subject)}`
    if (to.getTime() < now) {
      return {
        step: 'validity',
        detail: `${which} expired on ${isoDate(to)} (${days(now - to.getTime())} ago; valid ${isoDate(from)} to ${isoDate(to)})`,
        fix: isDevelopment(result.chain)
          ? 'restart the development server: it re-issues cert.pem in its CERT_DIR under the same CA when the certificate expires within 7 days (or delete .certs/cert.pem and start it)'
          : 'renew the certificate (your CA or ACME client) and let the server load it (fastify-tether reloads TLS_CERT/TLS_KEY when the files change, or on SIGHUP: README "Certificate rotation")'
      }
    }
    if (from.getTime() > now) {
      return {
        step: 'validity',
        detail: `${which} is not valid yet: valid from ${isoDate(from)} (in ${days(from.getTime() - now)}) to ${isoDate(to)}`,
        fix: 'check the clocks: this machine\'s date, and the date of the machine that issued the certificate; or wait until it is valid'
      }
    }
  }
  const leafTo = new Date(leaf.validTo)
  steps.push({ step: 'validity', ok: true, detail: `valid until ${isoDate(leafTo)} (${days(leafTo.getTime() - now)} left)` })
  return undefined
}

function explainUntrusted (result: Handshake, target: TlsTarget, url: URL): Explanation {
  const error = result.authorizationError ?? 'unknown'
  const chain = result.chain
  const leaf = chain[0] as X509Certificate
  const last = chain[chain.length - 1] as X509Certificate
  const development = isDevelopment(chain)
  const given = target.ca === undefined ? '' : ` (--ca ${target.ca.path} holds ${bundleSubjects(target.ca.pem).join('; ') || 'no certificate Node can read'})`
  if (!UNTRUSTED_ERRORS.has(error)) {
    return {
      detail: `the certificate chain failed verification: ${error}${given}`,
      fix: 'the chain the server sends is broken (a bad signature or a certificate that may not issue others): configure the server with its certificate, the intermediates in order, and the key that matches'
    }
  }
  let detail: string
  let candidate: X509Certificate | undefined
  if (selfSigned(leaf)) {
    detail = `the server's certificate is self-signed (${oneLine(leaf.subject)}, SHA-256 ${leaf.fingerprint256}), and it is not trusted${given}`
    candidate = leaf
  } else if (selfSigned(last)) {
    detail = `the chain ends at ${oneLine(last.subject)} (SHA-256 ${last.fingerprint256}), a CA this client does not trust${given}`
    candidate = last
  } else {
    detail = `the certificate was issued by ${oneLine(last.issuer)}, which is not trusted here, and the server does not send it${given}`
  }
  const caName = candidate === undefined ? oneLine(last.issuer) : `${oneLine(candidate.subject)}, SHA-256 ${candidate.fingerprint256}`
  const https = `https://${url.host}/`
  if (development) {
    const file = '.certs/ca.pem'
    return {
      detail,
      fix: [
        `this is a fastify-tether development server: trust its development CA (${caName}).`,
        `It is ${file} in the server's CERT_DIR (default .certs/ in the directory the server starts in):`,
        `  doctor:  fastify-tether doctor --ca ${file} ${url.href}`,
        `  Node:    NODE_EXTRA_CA_CERTS=${file} node client.js`,
        `  curl:    curl --cacert ${file} ${https}`,
        `  Python:  ssl.create_default_context(cafile="${file}")`,
        '  browsers and system stores: README "Trust the dev CA"'
      ].join('\n')
    }
  }
  const what = candidate === leaf
    ? `this exact certificate (${caName}): get the file the server loads (its TLS_CERT) and check its fingerprint, or give the server a certificate from a CA your clients trust`
    : `the CA that issued it (${caName}): get its certificate file from whoever runs the server${candidate === undefined ? ', or make the server send its full chain if that CA is an intermediate' : ' and check its fingerprint'}`
  return {
    detail,
    fix: [
      `trust ${what}. With that file as CA.pem:`,
      `  doctor:  fastify-tether doctor --ca CA.pem ${url.href}`,
      '  Node:    NODE_EXTRA_CA_CERTS=CA.pem node client.js',
      `  curl:    curl --cacert CA.pem ${https}`,
      '  Python:  ssl.create_default_context(cafile="CA.pem")',
      'A public server should use a certificate from a public CA (e.g. Let\'s Encrypt), which clients trust already.'
    ].join('\n')
  }
}

async function checkWebSocket (url: URL, options: DoctorOptions, target: TlsTarget, steps: DoctorStep[], report: (summary: string, latencyMs?: number) => DoctorReport, fail: Fail): Promise<DoctorReport> {
  const timeoutMs = target.timeoutMs
  const offered = options.ticket === undefined ? [...options.protocols ?? []] : ticketProtocols(options.ticket, options.protocols ?? [])
  const shown = offered.map((protocol) => protocol.startsWith(TICKET_PROTOCOL_PREFIX) ? `${TICKET_PROTOCOL_PREFIX}<ticket>` : protocol)
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`
  const clientOptions: ClientOptions = {
    headers,
    handshakeTimeout: timeoutMs,
    followRedirects: false,
    perMessageDeflate: false,
    ...(options.origin === undefined ? {} : { origin: options.origin }),
    ...(target.ca === undefined ? {} : { ca: target.ca.pem })
  }
  const ws = new WebSocket(url, offered, clientOptions)
  ws.binaryType = 'nodebuffer'
  const path = url.pathname
  const outcome = await new Promise<{ open: true } | { refused: Explanation } | { error: Error }>((resolve) => {
    ws.once('open', () => resolve({ open: true }))
    ws.once('unexpected-response', (request, response: IncomingMessage) => {
      readBody(response, timeoutMs).then((body) => {
        request.destroy()
        const json = parseBody(body)
        resolve({
          refused: explainRefusal({
            status: response.statusCode ?? 0,
            error: json?.error,
            message: json?.message,
            origin: options.origin,
            sentCredentials: options.token !== undefined || options.ticket !== undefined,
            retryAfter: header(response, 'retry-after'),
            location: header(response, 'location'),
            path
          })
        })
      })
    })
    ws.once('error', (error) => resolve({ error }))
  })
  if ('refused' in outcome) return fail('upgrade', outcome.refused)
  if ('error' in outcome) {
    const message = outcome.error.message
    if (message === 'Server sent no subprotocol') {
      steps.push({ step: 'upgrade', ok: true, detail: '101 Switching Protocols' })
      return fail('subprotocol', {
        detail: `offered ${shown.join(', ')}; the server selected none`,
        fix: options.ticket !== undefined
          ? `the server does not take tickets in Sec-WebSocket-Protocol (a fastify-tether server selects "${TETHER_PROTOCOL}"): upgrade it, or send the ticket in the URL (?ticket=)`
          : 'the server speaks none of these subprotocols: offer one it supports (browsers fail a handshake that selects none of the offered ones)'
      })
    }
    if (message === 'Server sent an invalid subprotocol' || message === 'Server sent a subprotocol but none was requested') {
      steps.push({ step: 'upgrade', ok: true, detail: '101 Switching Protocols' })
      return fail('subprotocol', { detail: `offered ${shown.length === 0 ? 'none' : shown.join(', ')}; ${message.toLowerCase()}`, fix: 'the server must select one of the offered subprotocols, or none when none is offered (RFC 6455 section 4.2.2): fix its protocol selection' })
    }
    if (message.includes('Opening handshake has timed out')) {
      return fail('upgrade', { detail: `no answer to the upgrade request within ${timeoutMs} ms`, fix: 'the server (or a proxy) accepted the connection but never answered the upgrade: check the server\'s log and event loop, and the proxy\'s WebSocket support' })
    }
    const code = (outcome.error as NodeJS.ErrnoException).code
    if (url.protocol === 'ws:' && (code?.startsWith('HPE_') === true || code === 'ECONNRESET' || message.includes('socket hang up'))) {
      const tls = await handshake({ ...target, timeoutMs })
      if ('protocol' in tls) return fail('upgrade', { detail: `the upgrade request got no HTTP answer (${message}); the port speaks TLS`, fix: `this port speaks TLS: use wss://${url.host}${url.pathname}${url.search}` })
    }
    return fail('upgrade', { detail: `the upgrade failed: ${message}`, fix: 'something between you and the server broke the WebSocket handshake (a proxy without WebSocket support, or a server that is not a WebSocket server): check the server\'s log and the proxy' })
  }
  steps.push({ step: 'upgrade', ok: true, detail: `101 Switching Protocols${url.protocol === 'ws:' ? ' (plain ws://: nothing is encrypted)' : ''}` })
  steps.push({ step: 'subprotocol', ok: true, detail: offered.length === 0 ? 'none offered, none selected' : `offered ${shown.join(', ')}; selected ${ws.protocol === '' ? 'none' : ws.protocol}` })

  // One round trip: send a text message and wait for the first message back (or the close).
  const closed = new Promise<{ code: number, reason: string }>((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))
  })
  ws.on('error', () => { /* the close that follows says what happened */ })
  const started = performance.now()
  const first = new Promise<RawData>((resolve) => ws.once('message', (data) => resolve(data)))
  ws.send(options.message ?? 'fastify-tether doctor')
  const answer = await Promise.race([
    first.then((data) => ({ data })),
    closed.then((close) => ({ close })),
    delay(timeoutMs).then(() => ({ timeout: true as const }))
  ])
  let latencyMs: number | undefined
  if ('close' in answer) {
    const meaning = explainCloseCode(answer.close.code, answer.close.reason)
    return fail('round-trip', { detail: `the server closed the connection before answering: ${answer.close.code} ${meaning.name}${answer.close.reason === '' ? '' : ` "${answer.close.reason}"`}`, fix: meaning.meaning })
  }
  if ('data' in answer) {
    latencyMs = Math.round((performance.now() - started) * 10) / 10
    steps.push({ step: 'round-trip', ok: true, detail: `sent a text message, first message back in ${formatMs(latencyMs)} (${byteLength(answer.data)} bytes)` })
  } else {
    steps.push({ step: 'round-trip', ok: true, detail: `sent a text message; nothing came back within ${timeoutMs} ms (the connection stayed open; this route may not answer text)` })
  }

  ws.close(1000, 'fastify-tether doctor done')
  const end = await Promise.race([closed, delay(timeoutMs).then(() => undefined)])
  if (end === undefined) {
    ws.terminate()
    return fail('close', { detail: `the server did not answer the close within ${timeoutMs} ms`, fix: 'the server (or a proxy) ignores close frames: check its WebSocket implementation; connections may linger until a timeout' })
  }
  const meaning = explainCloseCode(end.code, end.reason)
  if (!meaning.healthy) {
    return fail('close', { detail: `closed with ${end.code} ${meaning.name}${end.reason === '' ? '' : ` "${end.reason}"`}`, fix: meaning.meaning })
  }
  steps.push({ step: 'close', ok: true, detail: `closed cleanly: ${end.code} ${meaning.name}` })
  return report(`every link is healthy${latencyMs === undefined ? '' : ` (round trip ${formatMs(latencyMs)})`}`, latencyMs)
}

function parseUrl (raw: string): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new DoctorUsageError(`${JSON.stringify(raw)} is not a URL: give a wss:// URL such as wss://localhost:8443/ws/echo`)
  }
  if (url.protocol === 'https:' || url.protocol === 'http:') {
    throw new DoctorUsageError(`${url.protocol}// is not a WebSocket URL: use ${url.protocol === 'https:' ? 'wss' : 'ws'}://${url.host}${url.pathname}`)
  }
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:') throw new DoctorUsageError(`${url.protocol}// is not a WebSocket URL: use wss:// (or ws:// on loopback)`)
  return url
}

async function readCa (path: string): Promise<string> {
  let pem: string
  try {
    pem = await readFile(path, 'utf8')
  } catch (error) {
    throw new DoctorUsageError(`--ca ${path} cannot be read: ${(error as Error).message}`)
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new DoctorUsageError(`--ca ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`)
  return pem
}

async function tcpConnect (host: string, port: number, timeoutMs: number): Promise<'ok' | string> {
  return await new Promise((resolve) => {
    const socket = netConnect({ host, port })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve('ETIMEDOUT')
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.destroy()
      resolve('ok')
    })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      resolve(error.code ?? error.message)
    })
  })
}

async function readBody (response: IncomingMessage, timeoutMs: number): Promise<string> {
  return await new Promise((resolve) => {
    let body = ''
    const done = (): void => {
      clearTimeout(timer)
      resolve(body)
    }
    const timer = setTimeout(done, timeoutMs)
    response.setEncoding('utf8')
    response.on('data', (chunk: string) => {
      if (body.length < 4096) body += chunk
      if (body.length >= 4096) done()
    })
    response.once('end', done)
    response.once('error', done)
  })
}

function parseBody (body: string): { error?: string, message?: string } | undefined {
  try {
    const parsed: unknown = JSON.parse(body)
    if (typeof parsed !== 'object' || parsed === null) return undefined
    const { error, message } = parsed as Record<string, unknown>
    return {
      ...(typeof error === 'string' ? { error: error.slice(0, 100) } : {}),
      ...(typeof message === 'string' ? { message: message.slice(0, 300) } : {})
    }
  } catch {
    return undefined
  }
}

function header (response: IncomingMessage, name: string): string | undefined {
  const value = response.headers[name]
  return Array.isArray(value) ? value[0] : value
}

function isDevelopment (chain: readonly X509Certificate[]): boolean {
  return chain.some((certificate) => certificate.issuer.includes('fastify-tether development') || certificate.subject.includes('fastify-tether development CA'))
}

async function bounded<T> (promise: Promise<T>, ms: number, code: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(code), { code })), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function delay (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms).unref())
}

function byteLength (data: RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, part) => sum + part.length, 0)
  return data instanceof ArrayBuffer ? data.byteLength : data.length
}

function formatAddress (address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address
}

function formatMs (ms: number): string {
  return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`
}

function isoDate (date: Date): string {
  return date.toISOString().replace('.000Z', 'Z')
}

function days (ms: number): string {
  const count = Math.floor(ms / 86_400_000)
  if (count >= 1) return `${count} day${count === 1 ? '' : 's'}`
  const hours = Math.floor(ms / 3_600_000)
  return hours >= 1 ? `${hours} hour${hours === 1 ? '' : 's'}` : 'less than an hour'
}
