/**
 * The verified claims of a token, available as `request.user` for the whole connection.
 * Registered claims follow RFC 7519 section 4.1; `amr` follows RFC 8176 (authentication methods,
 * `"mfa"` for multi-factor); `scope` is a space-separated list as in OAuth 2.0 (RFC 8693 section 4.2).
 */
export interface TokenClaims {
  /** The subject: the user id; connection caps and topic ownership use it. */
  sub: string
  /** Expiry, seconds since the epoch; required. */
  exp: number
  iat?: number
  nbf?: number
  amr?: string[]
  scope?: string
  rooms?: string[]
  [claim: string]: unknown
}

/**
 * A route's claims policy: return true to allow, or a snake_case reason (e.g. `mfa_required`)
 * to refuse the upgrade with 403 and that reason.
 */
export type ClaimsPolicy = (claims: TokenClaims) => true | string

/** The reference policy: the token's `amr` claim must contain `"mfa"`. */
export const requireMfa: ClaimsPolicy = (claims) =>
  Array.isArray(claims.amr) && claims.amr.includes('mfa') ? true : 'mfa_required'

/** A policy requiring every scope in `scopes` in the token's space-separated `scope` claim. */
export function requireScopes (...scopes: string[]): ClaimsPolicy {
  return (claims) => {
    const granted = new Set(typeof claims.scope === 'string' ? claims.scope.split(' ') : [])
    return scopes.every((scope) => granted.has(scope)) ? true : 'insufficient_scope'
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims
    user: TokenClaims
  }
}
