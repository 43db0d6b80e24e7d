import type { FastifyInstance } from 'fastify'
import { TetherError, requireMfa, type Connection } from '../../src/index.js'

/**
 * WS /ws/feed: ticks from the feed service; requires a token with MFA (`amr` contains "mfa").
 * The route awaits the service while it writes, and reads the client's JSON messages meanwhile:
 * `{"type":"auth.refresh","token":"<jwt>"}` moves the connection's expiry to the new token's.
 */
export default async function feed (app: FastifyInstance): Promise<void> {
  app.ws('/ws/feed', { auth: { require: requireMfa } }, async (connection) => {
    await Promise.race([app.feed.attach(connection), readClientMessages(connection)])
  })
}

async function readClientMessages (connection: Connection): Promise<void> {
  for await (const message of connection.messages()) {
    const envelope = parseEnvelope(message)
    if (envelope === null) {
      await connection.send(JSON.stringify({ type: 'error', error: 'invalid_json' }))
    } else if (envelope['type'] === 'auth.refresh' && typeof envelope['token'] === 'string') {
      try {
        const exp = await connection.refreshAuth(envelope['token'])
        await connection.send(JSON.stringify({ type: 'auth.refreshed', exp }))
      } catch (error) {
        if (error instanceof TetherError) return // refused: the connection is already closing with 1008
        throw error
      }
    } else {
      await connection.send(JSON.stringify({ type: 'error', error: 'unknown_type' }))
    }
  }
}

function parseEnvelope (message: string | Buffer): Record<string, unknown> | null {
  if (typeof message !== 'string') return null
  try {
    const value: unknown = JSON.parse(message)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : null
  } catch {
    return null
  }
}
