// Property tests of claims validation: for any JSON value (and the odd non-JSON value a custom
// scheme could return), validateClaims either returns claims whose sub is a non-empty string and
// exp a finite number, or throws a 401 TetherError; the Authenticator's full check (schema,
// lifetime cap) keeps the same contract.
import { Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import fc from 'fast-check'
import t from 'tap'
import { Authenticator } from '../../src/auth/authenticator.js'
import { validateClaims, type TokenClaims } from '../../src/auth/claims.js'
import { TetherError } from '../../src/errors.js'

function obeysContract (run: () => TokenClaims): boolean {
  let claims: TokenClaims
  try {
    claims = run()
  } catch (error) {
    return error instanceof TetherError && error.statusCode === 401
  }
  return typeof claims.sub === 'string' && claims.sub !== '' && typeof claims.exp === 'number' && Number.isFinite(claims.exp)
}

const numeric = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, Number('1e400'), -0))
const claimValue = fc.oneof(fc.jsonValue(), numeric, fc.string(), fc.array(fc.string()), fc.constant(undefined))
// Objects shaped like claims, so most runs get past the first checks.
const claimsLike = fc.record({
  sub: fc.oneof(fc.string(), claimValue),
  exp: fc.oneof(numeric, claimValue),
  iat: fc.oneof(numeric, claimValue),
  nbf: fc.oneof(numeric, claimValue),
  iss: claimValue,
  aud: claimValue,
  amr: fc.oneof(fc.array(fc.string()), claimValue),
  scope: claimValue,
  rooms: claimValue
}, { requiredKeys: [] })
const anyValue = fc.oneof(fc.jsonValue(), claimsLike, fc.anything())

t.test('validateClaims returns well-typed claims or throws a 401 TetherError, for any value', async (t) => {
  fc.assert(fc.property(anyValue, (value) => obeysContract(() => validateClaims(value))), { numRuns: 5000 })
  fc.assert(fc.property(fc.jsonValue().map((value) => JSON.stringify(value)), (text) => obeysContract(() => validateClaims(JSON.parse(text)))), { numRuns: 1000 })
  t.pass('6000 values')
})

t.test('accepted claims keep every optional claim well typed', async (t) => {
  fc.assert(fc.property(claimsLike, (value) => {
    let claims: TokenClaims
    try { claims = validateClaims(value) } catch { return true }
    const finiteOrAbsent = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v))
    const strings = (v: unknown): boolean => Array.isArray(v) && v.every((e) => typeof e === 'string')
    return finiteOrAbsent(claims.iat) && finiteOrAbsent(claims.nbf) &&
      (claims.iss === undefined || typeof claims.iss === 'string') &&
      (claims.aud === undefined || typeof claims.aud === 'string' || strings(claims.aud)) &&
      (claims.amr === undefined || strings(claims.amr)) &&
      (claims.scope === undefined || typeof claims.scope === 'string')
  }), { numRuns: 5000 })
  t.pass('5000 claim sets')
})

t.test('the Authenticator check (schema and lifetime cap) keeps the contract and enforces both', async (t) => {
  const schema = TypeCompiler.Compile(Type.Object({
    sub: Type.String({ minLength: 1 }),
    exp: Type.Number(),
    iat: Type.Optional(Type.Number()),
    rooms: Type.Optional(Type.Array(Type.String()))
  }, { additionalProperties: false }))
  const maxLifetimeS = 3600
  const authenticator = new Authenticator({ name: 'none', authenticate: () => null }, 1000, { schema, maxLifetimeS })
  const now = (): number => Date.now() / 1000
  const near = fc.record({
    sub: fc.oneof(fc.string({ minLength: 1 }), claimValue),
    exp: fc.oneof(fc.integer({ min: -10_000, max: 10_000 }).map((d) => Math.floor(now()) + d), numeric),
    iat: fc.oneof(fc.integer({ min: -10_000, max: 100 }).map((d) => Math.floor(now()) + d), claimValue),
    rooms: fc.oneof(fc.array(fc.string()), claimValue)
  }, { requiredKeys: ['sub', 'exp'] })
  fc.assert(fc.property(fc.oneof(near, anyValue), (value) => {
    let claims: TokenClaims
    try {
      claims = authenticator.check(value)
    } catch (error) {
      return error instanceof TetherError && error.statusCode === 401
    }
    return typeof claims.sub === 'string' && claims.sub !== '' && Number.isFinite(claims.exp) &&
      claims.exp - now() <= maxLifetimeS && (claims.iat === undefined || claims.exp - claims.iat <= maxLifetimeS) &&
      schema.Check(claims)
  }), { numRuns: 5000 })
  t.pass('5000 values')
})
