import type { FastifyInstance } from 'fastify'

/**
 * WS /ws/hello: needs a token (`Authorization: Bearer <jwt>`, or a ticket from POST /auth/ticket);
 * greets the token's `sub`, then answers every message with `<sub>: <message>`.
 */
export default async function hello (app: FastifyInstance): Promise<void> {
  app.ws('/ws/hello', async (connection) => {
    const sub = connection.user.sub
    await connection.send(app.greet(sub))
    for await (const message of connection.messages()) await connection.send(`${sub}: ${String(message)}`)
  })
}
