import type { FastifyRequest } from 'fastify'
import { BadRequestError, InvalidTicketError, InvalidTokenError, MissingTokenError, TetherError } from '../errors.js'
import { validateClaims, type TokenClaims } from './claims.js'
import type { AuthScheme } from './scheme.js'
import { TicketStore } from './ticket-store.js'
import { ticketsOf } from './ticket-transport.js'

/** A ticket as the ticket endpoint answers it. */
export interface IssuedTicket {
  /** 256 random bits, base64url; redeemable once. */
  ticket: string
  /** Seconds the ticket may be redeemed. */
  expiresIn: number
}

/**
 * What every scheme shares: the scheme's own credentials first, then a single-use ticket; the
 * claims type-checked whatever produced them; refusals as `TetherError`s.
 */
export class Authenticator {
  readonly #scheme: AuthScheme
  readonly #tickets: TicketStore<TokenClaims>

  constructor (scheme: AuthScheme, ticketTtlMs: number) {
    this.#scheme = scheme
    this.#tickets = new TicketStore<TokenClaims>(ticketTtlMs)
  }

  /** The scheme's name. */
  get scheme (): string {
    return this.#scheme.name
  }

  /** Verified claims from the request's credentials or its ticket; throws the refusal otherwise. */
  async authenticate (request: FastifyRequest, acceptTickets: boolean): Promise<TokenClaims> {
    const tickets = acceptTickets ? ticketsOf(request.raw) : []
    if (tickets.length > 1) throw new BadRequestError('invalid_request', 'more than one ticket')
    const claims = await this.#fromScheme(() => this.#scheme.authenticate(request))
    if (claims !== null) return claims
    const ticket = tickets[0]
    if (ticket === undefined || ticket === '') throw new MissingTokenError()
    const redeemed = this.#tickets.redeem(ticket)
    if (redeemed === null) throw new InvalidTicketError()
    if (redeemed.exp * 1000 <= Date.now()) throw new InvalidTokenError('the token behind this ticket has expired')
    return redeemed
  }

  /** Verified claims of a bare token (auth.refresh); refuses when the scheme has no tokens. */
  async verifyToken (token: string): Promise<TokenClaims> {
    const verify = this.#scheme.verifyToken
    if (verify === undefined) throw new InvalidTokenError(`the ${this.#scheme.name} scheme cannot refresh with a token`)
    const claims = await this.#fromScheme(() => verify(token))
    if (claims === null) throw new InvalidTokenError()
    return claims
  }

  /** Issues a single-use ticket carrying `claims`, for a browser's next upgrade. */
  issueTicket (claims: TokenClaims): IssuedTicket {
    return { ticket: this.#tickets.issue(claims), expiresIn: this.#tickets.ttlSeconds }
  }

  async #fromScheme (run: () => unknown): Promise<TokenClaims | null> {
    let value: unknown
    try {
      value = await run()
    } catch (error) {
      if (error instanceof TetherError) throw error
      throw new InvalidTokenError('the credentials are not valid', { cause: error })
    }
    if (value === null || value === undefined) return null
    const claims = validateClaims(value)
    if (claims.exp * 1000 <= Date.now()) throw new InvalidTokenError('the token has expired')
    return claims
  }
}
