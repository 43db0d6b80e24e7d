import { randomUUID } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { BadRequestError, ForbiddenError, type TokenClaims } from '../../src/index.js'

const ROOM = /^[a-z0-9-]{1,64}$/
const roomTopic = (room: string): string => `room:${room}`

/** A `rooms` claim, when present, lists the only rooms the token may enter. */
function mayEnter (user: TokenClaims | null, room: string): boolean {
  if (user === null) return false
  return !Array.isArray(user.rooms) || user.rooms.includes(room)
}

/**
 * WS /ws/chat/:room: authenticated chat rooms. Before the upgrade: a bad room name gets 400
 * `invalid_room`, a room outside the token's `rooms` claim 403 `room_not_allowed`. Members send
 * `{"type":"say","text":"..."}` (1-2000 characters) and everyone in the room, on every instance,
 * the sender included, receives `said`; `joined` and `left` announce members.
 */
export default async function chat (app: FastifyInstance): Promise<void> {
  app.ws('/ws/chat/:room', {
    messages: { say: { text: Type.String({ minLength: 1, maxLength: 2000 }) } },
    authorizeTopic: (user, topic) => topic.startsWith('room:') && mayEnter(user, topic.slice('room:'.length)),
    preValidation: async (request: FastifyRequest, reply: FastifyReply) => {
      const { room } = request.params as { room: string }
      if (!ROOM.test(room)) {
        return await app.tether.refuse(request, reply, new BadRequestError('invalid_room', 'room names are 1-64 characters of a-z, 0-9 and -'))
      }
      if (!mayEnter(request.user, room)) {
        return await app.tether.refuse(request, reply, new ForbiddenError('room_not_allowed', 'this token does not allow that room'))
      }
    }
  }, async (connection) => {
    const { room } = connection.request.params as { room: string }
    const topic = roomTopic(room)
    const user = connection.request.user.sub
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
