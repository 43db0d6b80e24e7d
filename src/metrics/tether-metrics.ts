import type { FastifyInstance } from 'fastify'
import { collectDefaultMetrics, Counter, Gauge, Histogram, register as defaultRegistry, type Registry } from 'prom-client'
import type { Connection } from '../connection.js'
import type { TetherEventMap } from '../events.js'
import { certificateNotAfter } from './certificate.js'
import { closeCodeLabel, reasonLabel } from './labels.js'

type AnyConnection = Connection<unknown, never, unknown>

/** Options of {@link tetherMetrics}. */
export interface TetherMetricsOptions {
  /** Where the series are registered. Default: prom-client's global registry (`register`), the one fastify-metrics serves. */
  registry?: Registry
  /** Prefix of every series name. Default `tether_`. */
  prefix?: string
  /**
   * Also call prom-client's `collectDefaultMetrics` on the registry: `process_*` (CPU, memory, file
   * descriptors) and `nodejs_*`, event-loop lag (`nodejs_eventloop_lag_seconds`, its percentiles)
   * included. Default false: a host that already collects them (fastify-metrics does) would
   * register them twice.
   */
  defaultMetrics?: boolean
  /** Buckets of the handshake duration histogram, in seconds. Default 1 ms to 10 s. */
  handshakeBuckets?: number[]
}

/** The series of one tether plugin in a prom-client registry; see {@link tetherMetrics}. */
export interface TetherMetrics {
  /** The registry the series are in (serve `await registry.metrics()` with `registry.contentType`). */
  readonly registry: Registry
  /**
   * Sets `<prefix>tls_certificate_not_after_timestamp_seconds` from a PEM certificate (the first
   * one of a chain); call it again when the certificate is replaced. Returns its `notAfter`.
   */
  observeCertificate: (pem: string | Buffer) => Date
  /**
   * Stops observing and removes the series from the registry (default metrics stay). Called by
   * the app's `onClose` (when `tetherMetrics()` was called before the app listened); idempotent.
   */
  close: () => void
}

/** Default buckets of the handshake histogram, in seconds. */
export const HANDSHAKE_BUCKETS: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])

interface Tracked {
  route: string
  messagesIn: number
  bytesIn: number
  messagesOut: number
  bytesOut: number
}

interface BackplaneView {
  stats?: { connected?: boolean, publishFailures?: number, outages?: number }
  connected?: boolean
}

/**
 * Registers the tether plugin's series in a prom-client registry (the host's, or prom-client's
 * global one) and keeps them current through `app.tether.events`, so a service that already
 * serves prom-client metrics (fastify-metrics, its own `/metrics`) gets tether's in the same
 * scrape. Call it after registering the tether plugin and before the app is ready (a plugin that
 * depends on `fastify-tether`, or right after `await app.register(tetherPlugin, ...)`).
 *
 * Labels are route patterns (`/ws/chat/:room`), close codes, refusal reasons and hub sources:
 * never a URL, a user, a ticket or a topic. Message and byte counters are read from each
 * connection's own counters when Prometheus scrapes and when the connection closes, never per
 * message. Series names are listed in the README ("Operating", "Metrics").
 */
export function tetherMetrics (app: FastifyInstance, options: TetherMetricsOptions = {}): TetherMetrics {
  if (!app.hasDecorator('tether')) throw new TypeError('tetherMetrics() needs the tether plugin: register tetherPlugin first')
  const registry = options.registry ?? defaultRegistry
  const prefix = options.prefix ?? 'tether_'
  const events = app.tether.events
  const backplane = app.hub.backplane as BackplaneView
  const tracked = new Map<AnyConnection, Tracked>()
  const names: string[] = []
  try {
    // First, so that nothing is observed on an app that refuses the hook.
    app.addHook('onClose', async () => { metrics.close() })
  } catch (error) {
    // Called on an app that already listens: the host calls close() itself.
    if ((error as { code?: string }).code !== 'FST_ERR_INSTANCE_ALREADY_LISTENING') throw error
  }

  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[], collect?: (this: Counter<L>) => void): Counter<L> =>
    register(prefix + name, () => new Counter<L>({ name: prefix + name, help, labelNames, registers: [registry], ...(collect === undefined ? {} : { collect }) }))
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], collect?: (this: Gauge<L>) => void): Gauge<L> =>
    register(prefix + name, () => new Gauge<L>({ name: prefix + name, help, labelNames, registers: [registry], ...(collect === undefined ? {} : { collect }) }))
  function register<M> (name: string, make: () => M): M {
    try {
      const metric = make()
      names.push(name)
      return metric
    } catch (cause) {
      for (const name of names) registry.removeSingleMetric(name)
      throw new TypeError(`tetherMetrics(): ${(cause as Error).message}; give each tether plugin its own registry or prefix`, { cause })
    }
  }

  /** Adds what each open connection's counters moved since the last read. */
  const sync = (): void => {
    for (const [connection, last] of tracked) addTraffic(last, connection.stats)
  }
  const addTraffic = (last: Tracked, now: { messagesIn: number, bytesIn: number, messagesOut: number, bytesOut: number }): void => {
    const route = { route: last.route }
    if (now.messagesIn > last.messagesIn) messagesIn.inc(route, now.messagesIn - last.messagesIn)
    if (now.bytesIn > last.bytesIn) bytesIn.inc(route, now.bytesIn - last.bytesIn)
    if (now.messagesOut > last.messagesOut) messagesOut.inc(route, now.messagesOut - last.messagesOut)
    if (now.bytesOut > last.bytesOut) bytesOut.inc(route, now.bytesOut - last.bytesOut)
    last.messagesIn = now.messagesIn
    last.bytesIn = now.bytesIn
    last.messagesOut = now.messagesOut
    last.bytesOut = now.bytesOut
  }

  const open = gauge('connections_open', 'Open WebSocket connections, by route pattern.', ['route'])
  const accepted = counter('connections_accepted_total', 'WebSocket connections upgraded (101), by route pattern.', ['route'])
  const closed = counter('connections_closed_total', 'WebSocket connections whose socket closed, by route pattern, close code (application codes as 3xxx/4xxx) and who closed (server, client, or none when the socket dropped).', ['route', 'code', 'closed_by'])
  const refusals = counter('refusals_total', 'Requests refused with an HTTP status before any upgrade (and HTTP endpoints refused by tether), by reason and route pattern (empty when no route matched).', ['reason', 'route'])
  const serverCloses = counter('server_closes_total', 'Closes the server initiated, by route pattern and close code (1006: terminated).', ['route', 'code'])
  const slowConsumers = counter('slow_consumer_closes_total', 'Connections closed with 1013 because a fan-out write found more than maxBufferedBytes buffered, by route pattern.', ['route'])
  const messagesIn = counter('received_messages_total', 'Messages received (pings and pongs excluded), by route pattern; read from connections at scrape and at close.', ['route'], sync)
  const bytesIn = counter('received_bytes_total', 'Payload bytes received, by route pattern; read from connections at scrape and at close.', ['route'], sync)
  const messagesOut = counter('sent_messages_total', 'Messages sent (send, push, hub deliveries), by route pattern; read from connections at scrape and at close.', ['route'], sync)
  const bytesOut = counter('sent_bytes_total', 'Payload bytes sent, by route pattern; read from connections at scrape and at close.', ['route'], sync)
  const handshakes = register(`${prefix}handshake_duration_seconds`, () => new Histogram<'route'>({
    name: `${prefix}handshake_duration_seconds`,
    help: 'From the TCP accept (TLS handshake included) when the upgrade is its socket\'s first request, else from the upgrade request\'s arrival, to the 101; by route pattern.',
    labelNames: ['route'],
    buckets: [...(options.handshakeBuckets ?? HANDSHAKE_BUCKETS)],
    registers: [registry]
  }))
  const hubPublishes = counter('hub_publishes_total', 'Hub messages, by source: local (app.hub.publish on this instance) or remote (from another instance through the backplane).', ['source'])
  const hubDeliveries = counter('hub_deliveries_total', 'Hub messages written to local subscribers, by source (local or remote).', ['source'])
  gauge('backplane_up', 'Whether the hub backplane reaches the other instances (1) or not (0); always 1 in-process.', [], function () {
    const up = backplane.stats?.connected ?? backplane.connected ?? true
    this.set(up ? 1 : 0)
  })
  counter('backplane_publish_failures_total', 'Hub messages that could not be handed to the backplane (still delivered locally).', [], function () {
    this.reset()
    this.inc(backplane.stats?.publishFailures ?? 0)
  })
  counter('backplane_outages_total', 'Times the backplane lost its connection.', [], function () {
    this.reset()
    this.inc(backplane.stats?.outages ?? 0)
  })
  const notAfter = gauge('tls_certificate_not_after_timestamp_seconds', 'When the served TLS certificate expires (its notAfter), in Unix seconds; set by observeCertificate().', [])
  if (options.defaultMetrics === true) collectDefaultMetrics({ register: registry })

  const listeners: Array<() => void> = [
    on('connectionOpened', (event) => {
      tracked.set(event.connection, { route: event.route, messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 })
      open.inc({ route: event.route })
      accepted.inc({ route: event.route })
      handshakes.observe({ route: event.route }, event.handshakeSeconds)
    }),
    on('connectionClosed', (event) => {
      const last = tracked.get(event.connection)
      if (last !== undefined) {
        tracked.delete(event.connection)
        open.dec({ route: event.route })
      }
      addTraffic(last ?? { route: event.route, messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 }, event)
      closed.inc({ route: event.route, code: closeCodeLabel(event.code), closed_by: event.closedBy ?? 'none' })
    }),
    on('serverClose', (event) => { serverCloses.inc({ route: event.route, code: closeCodeLabel(event.code) }) }),
    on('slowConsumer', (event) => { slowConsumers.inc({ route: event.route }) }),
    on('refusal', (event) => { refusals.inc({ reason: reasonLabel(event.reason), route: event.route ?? '' }) }),
    on('hubPublish', (event) => {
      hubPublishes.inc({ source: event.source })
      if (event.delivered > 0) hubDeliveries.inc({ source: event.source }, event.delivered)
    })
  ]
  function on<K extends keyof TetherEventMap> (name: K, listener: (event: TetherEventMap[K]) => void): () => void {
    return events.on(name, listener)
  }

  let closedAlready = false
  const metrics: TetherMetrics = {
    registry,
    observeCertificate (pem) {
      const date = certificateNotAfter(pem)
      notAfter.set(Math.floor(date.getTime() / 1000))
      return date
    },
    close () {
      if (closedAlready) return
      closedAlready = true
      for (const off of listeners) off()
      tracked.clear()
      for (const name of names) registry.removeSingleMetric(name)
    }
  }
  return metrics
}
