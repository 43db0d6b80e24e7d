import type { TObject } from '@sinclair/typebox'
import type { TypeCheck } from '@sinclair/typebox/compiler'
import type { IncomingMessage } from 'node:http'
import type { FastifyRequest } from 'fastify'
import { BadRequestError, InvalidTicketError, InvalidTokenError, MissingTokenError, TetherError } from '../errors.js'
import { validateClaims, type TokenClaims } from './claims.js'
import type { AuthScheme } from './scheme.js'
import { TicketStore } from './ticket-store.js'
import { leakedTickets, spendTickets, spentTicket, ticketsOf } from './ticket-transport.js'

/** A ticket as the ticket endpoint answers it. */
export interface IssuedTicket {
  /** 256 random bits, base64url; redeemable once. */
  ticket: string
  /** Seconds the ticket may be redeemed. */
  expiresIn: number
}

/** The checks every set of claims passes, whatever produced it (scheme, ticket, refresh). */
export interface ClaimsChecks {
  /** The host's claims schema (the plugin's `claims` option), compiled once. */
  schema?: TypeCheck<TObject> | undefined
  /** Longest a token may live: `exp` at most this far from now, and `exp - iat` at most this. */
  maxLifetimeS?: number | undefined
}

/**
 * What every scheme shares: the scheme's own credentials first, then a single-use ticket; the
 * claims type-checked (then checked against the host's schema, and their lifetime capped) whatever
 * produced them, on the upgrade, on a ticket's redemption and on `auth.refresh` alike; refusals as
 * `TetherError`s.
 */
export class Authenticator {
  readonly #scheme: AuthScheme
  readonly #tickets: TicketStore<TokenClaims>
  readonly #checks: ClaimsChecks

  constructor (scheme: AuthScheme, ticketTtlMs: number, checks: ClaimsChecks = {}) {
    this.#scheme = scheme
    this.#tickets = new TicketStore<TokenClaims>(ticketTtlMs)
    this.#checks = checks
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
    // Spent at the front door already (spendTickets), or, for a request that did not pass it, now.
    const spent = spentTicket<TokenClaims>(request.raw, ticket)
    const redeemed = spent !== undefined ? spent : this.#tickets.redeem(ticket)
    if (redeemed === null) throw new InvalidTicketError()
    // Host-issued tickets (app.tether.issueTicket) carry whatever the host passed: check them as a token.
    const carried = this.check(redeemed)
    if (carried.exp * 1000 <= Date.now()) throw new InvalidTokenError('the token behind this ticket has expired')
    return carried
  }

  /** Verified claims of a bare token (auth.refresh); refuses when the scheme has no tokens. */
  async verifyToken (token: string): Promise<TokenClaims> {
    const verify = this.#scheme.verifyToken
    if (verify === undefined) throw new InvalidTokenError(`the ${this.#scheme.name} scheme cannot refresh with a token`)
    const claims = await this.#fromScheme(() => verify(token))
    if (claims === null) throw new InvalidTokenError()
    return claims
  }

  /**
   * The front door's part, for every request the server receives, before routing: a ticket that
   * was sent is spent, whether or not the request then redeems it (an upgrade that is refused or
   * 404s, a plain request with `?ticket=`, a valid token next to it), so a ticket that may have
   * leaked into a URL on the way is worthless afterwards. Upgrade tickets are kept for
   * {@link authenticate}; the rest (plain requests, disguised parameters) are simply burnt.
   */
  spendTickets (raw: IncomingMessage, upgrade: boolean): void {
    if (upgrade) spendTickets(raw, (ticket) => this.#tickets.redeem(ticket))
    if (this.#tickets.size === 0) return
    for (const ticket of leakedTickets(raw)) this.#tickets.redeem(ticket)
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
    const claims = this.check(value)
    if (claims.exp * 1000 <= Date.now()) throw new InvalidTokenError('the token has expired')
    return claims
  }

  /**
   * Every check of claims, whatever produced them: their types ({@link validateClaims}), the
   * lifetime cap, then the host's schema. Throws `InvalidTokenError` (401) at the first that fails.
   */
  check (value: unknown): TokenClaims {
    const claims = validateClaims(value)
    const { schema, maxLifetimeS } = this.#checks
    if (maxLifetimeS !== undefined) {
      if (claims.exp - Date.now() / 1000 > maxLifetimeS) {
        throw new InvalidTokenError(`the token expires too far in the future: tokens may live at most ${maxLifetimeS} s`)
      }
      if (claims.iat !== undefined && claims.exp - claims.iat > maxLifetimeS) {
        throw new InvalidTokenError(`the token lives too long (exp - iat): tokens may live at most ${maxLifetimeS} s`)
      }
    }
    if (schema !== undefined && !schema.Check(claims)) {
      const first = schema.Errors(claims).First()
      const where = first === undefined ? '' : `: ${first.path === '' ? '/' : first.path} ${first.message}`
      throw new InvalidTokenError(`the token's claims do not match the expected claims${where}`)
    }
    return claims
  }
}
