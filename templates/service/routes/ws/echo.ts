import type { FastifyInstance } from 'fastify'

/** WS /ws/echo: public; echoes every message, text as text and binary as binary. */
export default async function echo (app: FastifyInstance): Promise<void> {
  app.ws('/ws/echo', { auth: false }, async (connection) => {
    for await (const message of connection.messages()) await connection.send(message)
  })
}
