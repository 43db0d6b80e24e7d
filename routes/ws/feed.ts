import type { FastifyInstance } from 'fastify'

/** WS /ws/feed: ticks from the feed service; the route awaits while the service writes. */
export default async function feed (app: FastifyInstance): Promise<void> {
  app.ws('/ws/feed', async (connection) => {
    await app.feed.attach(connection)
  })
}
