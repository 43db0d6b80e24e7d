import { randomUUID } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { BadRequestError, type TokenClaims } from 'fastify-tether'

const ROOM = /^[a-z0-9-]{1,64}$/
const roomTopic = (room: string): string => `room:${room}`

/**
 * A `rooms` claim, when present, lists the only rooms the token may enter; a `rooms` claim that is
 * not a list of strings allows none (fail closed).
 */
function mayEnter (user: TokenClaims | null, room: string): boolean {
  if (user === null) return false
  const rooms = user['rooms']
  if (rooms === undefined) return true
  return Array.isArray(rooms) && rooms.every((entry) => typeof entry === 'string') && rooms.includes(room)
}

/**
 * WS /ws/chat/:room: authenticated chat rooms. Before the upgrade: a bad room name gets 400
 * `invalid_room`, a room outside the token's `rooms` claim 403 `room_not_allowed` (checked again on
 * `auth.refresh`). Members send `{"type":"say","text":"..."}` (1-2000 characters) and everyone in
 * the room, on every instance, the sender included, receives `said`; `joined` and `left` announce
 * members.
 */
export default async function chat (app: FastifyInstance): Promise<void> {
  app.ws('/ws/chat/:room', {
    schema: { params: Type.Object({ room: Type.String() }) },
    messages: { say: { text: Type.String({ minLength: 1, maxLength: 2000 }) } },
    preValidation: async (request) => {
      const { room } = request.params as { room: string }
      if (!ROOM.test(room)) throw new BadRequestError('invalid_room', 'room names are 1-64 characters of a-z, 0-9 and -')
    },
    authorize: (request) => mayEnter(request.user, request.params.room) ? true : 'room_not_allowed',
    authorizeTopic: (user, topic) => topic.startsWith('room:') && mayEnter(user, topic.slice('room:'.length))
  }, async (connection) => {
    const { room } = connection.request.params
    const topic = roomTopic(room)
    const user = connection.user.sub
    connection.subscribe(topic)
    app.hub.publish(topic, { type: 'joined', room, user })
    try {
      for await (const message of connection.messages()) {
        app.hub.publish(topic, { type: 'said', id: randomUUID(), room, from: user, text: message.text, at: new Date().toISOString() })
      }
    } finally {
      connection.unsubscribe(topic)
      app.hub.publish(topic, { type: 'left', room, user })
    }
  })
}
