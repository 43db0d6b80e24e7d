import { Type, type Static } from '@sinclair/typebox'

/** Chat room names, as `/ws/chat/:room` accepts them. */
export const ROOM_PATTERN = '^[a-z0-9-]{1,64}$'

/**
 * The claims the reference server's tokens carry, and nothing else: given to the tether plugin as
 * its `claims` schema, so a token with a claim of the wrong type (a `rooms` that is a string, an
 * `amr` that is not a list) or with an unknown claim is refused with 401 `invalid_token` before any
 * route or policy reads it. Registered claims per RFC 7519 section 4.1, `amr` per RFC 8176, `scope`
 * space-separated as in OAuth 2.0; `rooms` lists the only chat rooms the token may enter.
 */
export const ReferenceClaims = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 256 }),
  exp: Type.Number(),
  iat: Type.Optional(Type.Number()),
  nbf: Type.Optional(Type.Number()),
  jti: Type.Optional(Type.String({ maxLength: 256 })),
  iss: Type.Optional(Type.String({ maxLength: 256 })),
  aud: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Array(Type.String({ maxLength: 256 }), { maxItems: 16 })])),
  amr: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 16 })),
  scope: Type.Optional(Type.String({ maxLength: 1024 })),
  rooms: Type.Optional(Type.Array(Type.String({ pattern: ROOM_PATTERN }), { maxItems: 64 }))
}, { additionalProperties: false })

/** The reference server's claims, as its routes see them. */
export type ReferenceTokenClaims = Static<typeof ReferenceClaims>
