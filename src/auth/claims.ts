import { InvalidTokenError } from '../errors.js'

/**
 * The verified claims of an authenticated connection, `request.user` for its whole life.
 * Registered claims follow RFC 7519 section 4.1; `amr` follows RFC 8176 (authentication methods,
 * `"mfa"` for multi-factor); `scope` is a space-separated list as in OAuth 2.0 (RFC 8693 section 4.2).
 */
export interface TokenClaims {
  /** The subject: the user id; per-user connection caps use it. */
  sub: string
  /** Expiry, seconds since the epoch; required. The connection closes with 1008 when it passes. */
  exp: number
  iat?: number
  nbf?: number
  iss?: string
  aud?: string | string[]
  amr?: string[]
  scope?: string
  [claim: string]: unknown
}

/**
 * A route's claims policy: return true to allow, or a snake_case reason (e.g. `mfa_required`)
 * to refuse the upgrade with 403 and that reason.
 */
export type ClaimsPolicy = (claims: TokenClaims) => true | string

/** The policy requiring the token's `amr` claim to contain `"mfa"`; refuses with `mfa_required`. */
export const requireMfa: ClaimsPolicy = (claims) =>
  Array.isArray(claims.amr) && claims.amr.includes('mfa') ? true : 'mfa_required'

/** A policy requiring every scope in `scopes` in the space-separated `scope` claim; refuses with `insufficient_scope`. */
export function requireScopes (...scopes: string[]): ClaimsPolicy {
  return (claims) => {
    const granted = new Set(typeof claims.scope === 'string' ? claims.scope.split(' ') : [])
    return scopes.every((scope) => granted.has(scope)) ? true : 'insufficient_scope'
  }
}

const isStringArray = (value: unknown): boolean => Array.isArray(value) && value.every((entry) => typeof entry === 'string')
const isNumericDate = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value)

/**
 * Checks the types of the claims every policy relies on, whatever scheme produced them: `sub` a
 * non-empty string, `exp` a finite number, and when present `iat`/`nbf` finite numbers, `iss` a
 * string, `aud` a string or strings, `amr` strings, `scope` a string. Anything else refuses with
 * `invalid_token`, so a policy never sees a claim of the wrong type.
 */
export function validateClaims (value: unknown): TokenClaims {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidTokenError('the token carries no claims')
  const claims = value as Record<string, unknown>
  if (typeof claims['sub'] !== 'string' || claims['sub'] === '') throw new InvalidTokenError('the token has no subject')
  if (!isNumericDate(claims['exp'])) throw new InvalidTokenError('the token has no valid expiry')
  for (const name of ['iat', 'nbf']) {
    if (claims[name] !== undefined && !isNumericDate(claims[name])) throw new InvalidTokenError(`the token's ${name} claim is not a number`)
  }
  if (claims['iss'] !== undefined && typeof claims['iss'] !== 'string') throw new InvalidTokenError('the token\'s iss claim is not a string')
  if (claims['aud'] !== undefined && typeof claims['aud'] !== 'string' && !isStringArray(claims['aud'])) throw new InvalidTokenError('the token\'s aud claim is not a string')
  if (claims['amr'] !== undefined && !isStringArray(claims['amr'])) throw new InvalidTokenError('the token\'s amr claim is not a list of strings')
  if (claims['scope'] !== undefined && typeof claims['scope'] !== 'string') throw new InvalidTokenError('the token\'s scope claim is not a string')
  return claims as TokenClaims
}
