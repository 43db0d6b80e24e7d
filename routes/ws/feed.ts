import type { FastifyInstance } from 'fastify'
import { requireMfa } from '../../src/index.js'

/**
 * WS /ws/feed: ticks from the feed service; requires a token with MFA (`amr` contains "mfa").
 * The route awaits the service while it writes. It reads JSON messages, so the framework answers
 * `{"type":"auth.refresh","token":"<jwt>"}` (moving the connection's expiry) and sends an error
 * frame for anything else.
 */
export default async function feed (app: FastifyInstance): Promise<void> {
  app.ws('/ws/feed', { auth: { require: requireMfa }, messages: {} }, async (connection) => {
    await app.feed.attach(connection)
  })
}
