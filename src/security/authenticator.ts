import type { FastifyRequest } from 'fastify'
import { InvalidTicketError, InvalidTokenError, MissingTokenError } from '../errors.js'
import type { TokenClaims } from './claims.js'
import type { TicketStore } from './ticket-store.js'

const BEARER = /^Bearer ([A-Za-z0-9\-_.]+)$/

/**
 * Turns the credentials of an upgrade request into verified claims: `Authorization: Bearer <jwt>`
 * for clients that can set headers, or `?ticket=<t>` (single use, from POST /auth/ticket) for
 * browsers that cannot. `verifyToken` is @fastify/jwt's verifier with the algorithm pinned.
 */
export class Authenticator {
  readonly #verifyToken: (token: string) => unknown
  readonly #tickets: TicketStore<TokenClaims>

  constructor (verifyToken: (token: string) => unknown, tickets: TicketStore<TokenClaims>) {
    this.#verifyToken = verifyToken
    this.#tickets = tickets
  }

  /** The tickets this authenticator redeems. */
  get tickets (): TicketStore<TokenClaims> {
    return this.#tickets
  }

  /** Verifies a token: signature, pinned algorithm, `exp` present and future, `nbf` past, `sub` a string. */
  verify (token: string): TokenClaims {
    let claims: unknown
    try {
      claims = this.#verifyToken(token)
    } catch (cause) {
      throw new InvalidTokenError('the token is not valid', { cause })
    }
    if (!isClaims(claims)) throw new InvalidTokenError('the token has no subject or expiry')
    return claims
  }

  /** The bearer token of a request, `undefined` without an Authorization header. */
  bearerToken (request: FastifyRequest): string | undefined {
    const header = request.headers.authorization
    if (header === undefined) return undefined
    const match = BEARER.exec(header)
    if (match?.[1] === undefined) throw new InvalidTokenError('the Authorization header must be "Bearer <token>"')
    return match[1]
  }

  /** Verified claims from the request's bearer token or ticket; throws the refusal otherwise. */
  authenticate (request: FastifyRequest): TokenClaims {
    const token = this.bearerToken(request)
    if (token !== undefined) return this.verify(token)
    const ticket = (request.query as Record<string, unknown> | undefined)?.['ticket']
    if (typeof ticket !== 'string' || ticket === '') throw new MissingTokenError()
    const claims = this.#tickets.redeem(ticket)
    if (claims === null) throw new InvalidTicketError()
    if (claims.exp * 1000 <= Date.now()) throw new InvalidTokenError('the token behind this ticket has expired')
    return claims
  }
}

function isClaims (value: unknown): value is TokenClaims {
  if (typeof value !== 'object' || value === null) return false
  const claims = value as Record<string, unknown>
  return typeof claims['sub'] === 'string' && claims['sub'] !== '' && typeof claims['exp'] === 'number'
}
