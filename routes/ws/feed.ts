import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { requireMfa } from 'fastify-tether'

/** A user's own notification topic; nobody else may subscribe to it. */
export const userTopic = (sub: string): string => `user:${sub}`

/**
 * WS /ws/feed: requires a token with MFA (`amr` contains "mfa"). The route awaits the tick service
 * while it writes, and is subscribed to its user's notifications (`user:<sub>`, fed by
 * POST /api/notify/:user). It reads JSON messages: `{"type":"subscribe","topic":"user:<id>"}` is
 * allowed for the user's own id only (anything else gets a `forbidden` error frame), and the
 * framework answers `auth.refresh`.
 */
export default async function feed (app: FastifyInstance): Promise<void> {
  app.ws('/ws/feed', {
    auth: { require: requireMfa },
    messages: { subscribe: { topic: Type.String({ minLength: 1, maxLength: 200 }) } },
    authorizeTopic: (user, topic) => user !== null && topic === userTopic(user.sub)
  }, async (connection) => {
    connection.subscribe(userTopic(connection.user.sub))
    const reading = (async () => {
      for await (const message of connection.messages()) {
        if (connection.subscribe(message.topic)) await connection.send(JSON.stringify({ type: 'subscribed', topic: message.topic }))
      }
    })()
    await Promise.race([app.feed.attach(connection), reading])
  })
}
