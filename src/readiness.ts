/**
 * Why an instance should not get new traffic: `starting` (the app is not ready or not listening
 * yet), `draining` (shutdown has begun), `backplane_down` (the backplane reports it is not
 * connected, and the caller said it is required).
 */
export type NotReadyReason = 'starting' | 'draining' | 'backplane_down'

/** Options of `app.tether.readiness()`. */
export interface ReadinessOptions {
  /**
   * Count a disconnected backplane as not ready. Default false: while Redis is away an instance
   * still serves its own clients (publishes reach local subscribers only).
   */
  requireBackplane?: boolean
}

/** What `app.tether.readiness()` answers: ready, or the reasons it is not, in a fixed order. */
export type Readiness = { ready: true, reasons: [] } | { ready: false, reasons: NotReadyReason[] }

/** What readiness is computed from. */
export interface ReadinessInputs {
  started: boolean
  draining: boolean
  /** The backplane's own `connected`, undefined for one with no outside dependency (in-process). */
  backplaneConnected: boolean | undefined
}

/** Readiness from the plugin's state; pure, so it costs nothing to ask on every probe. */
export function readinessOf (inputs: ReadinessInputs, options: ReadinessOptions = {}): Readiness {
  const reasons: NotReadyReason[] = []
  if (!inputs.started) reasons.push('starting')
  if (inputs.draining) reasons.push('draining')
  if (options.requireBackplane === true && inputs.backplaneConnected === false) reasons.push('backplane_down')
  return reasons.length === 0 ? { ready: true, reasons: [] } : { ready: false, reasons }
}
