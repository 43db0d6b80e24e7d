// Compiled by `npm run typecheck` (never run): the route types a route author relies on, and the
// misuses they must reject. Each @ts-expect-error fails the typecheck if the error goes away.
import { Type } from '@sinclair/typebox'
import Fastify from 'fastify'
import { tetherPlugin, jwtAuth, type Connection, type TokenClaims } from 'fastify-tether'

/** Marks values as used. */
const use = (..._values: unknown[]): void => {}

const app = Fastify()
await app.register(tetherPlugin, { auth: jwtAuth({ secret: 'a secret of at least thirty-two bytes!!' }) })

app.ws('/public', { auth: false }, async (connection) => {
  const user: null = connection.user
  const requestUser: null = connection.request.user
  // @ts-expect-error a public route has no user
  connection.user.sub.toString()
  use(user)
  use(requestUser)
})

app.ws('/private', async (connection) => {
  const sub: string = connection.user.sub
  const exp: number = connection.request.user.exp
  use(sub)
  use(exp)
})

app.ws('/rooms/:room', {
  schema: { params: Type.Object({ room: Type.String() }), querystring: Type.Object({ since: Type.Optional(Type.Integer()) }) },
  authorize: (request) => request.params.room === request.user.sub ? true : 'room_not_allowed',
  messages: { say: { text: Type.String() }, leave: {} }
}, async (connection) => {
  const room: string = connection.request.params.room
  const since: number | undefined = connection.request.query.since
  for await (const message of connection.messages()) {
    if (message.type === 'say') {
      const text: string = message.text
      use(text)
    }
    // @ts-expect-error only the declared types arrive
    if (message.type === 'shout') break
  }
  // @ts-expect-error params are what the schema says
  use(connection.request.params.other)
  use(room)
  use(since)
})

app.ws<{ Params: { id: string } }>('/items/:id', {}, async (connection) => {
  const id: string = connection.request.params.id
  use(id)
})

app.ws('/binary', { auth: false }, async (connection) => {
  for await (const message of connection.messages()) {
    const data: string | Buffer = message
    await connection.send(data)
  }
})

// @ts-expect-error auth must be a boolean or { require }
app.ws('/bad', { auth: 'yes' }, async () => {})

// @ts-expect-error a handler is required
app.ws('/nohandler', { auth: false })

/** A helper typed against the public Connection type. */
export function greet (connection: Connection<unknown, object, TokenClaims>): Promise<void> {
  return connection.send(`hello ${connection.user.sub}`)
}
