import type { FastifyInstance } from 'fastify'

/**
 * WS /ws/echo: public; echoes every message unchanged, text as text and binary as binary.
 * With WS_COMPRESSION=on it negotiates permessage-deflate.
 */
export default async function echo (app: FastifyInstance): Promise<void> {
  app.ws('/ws/echo', { auth: false, compress: app.config.compression }, async (connection) => {
    for await (const message of connection.messages()) await connection.send(message)
  })
}
