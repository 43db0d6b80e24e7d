// Property tests of Origin parsing and the allowlist (src/security/origin-policy.ts): only exact
// serialized origins are accepted; random strings never crash; an allowed origin plus any suffix
// never matches.
import fc from 'fast-check'
import t from 'tap'
import { ConfigError, OriginNotAllowedError } from '../../src/errors.js'
import { OriginPolicy, parseOrigin } from '../../src/security/origin-policy.js'

const ALLOWED = 'https://allowed.example'
const policy = new OriginPolicy([ALLOWED, 'http://127.0.0.1:8080'])

// Strings near an origin: mutations of allowed ones, random URLs, and arbitrary text.
const nearOrigin = fc.oneof(
  fc.tuple(fc.constantFrom(ALLOWED, 'http://127.0.0.1:8080', 'HTTPS://allowed.example', 'https://ALLOWED.example'), fc.string({ unit: 'binary' }))
    .map(([origin, suffix]) => origin + suffix),
  fc.tuple(fc.string({ unit: 'binary' }), fc.constantFrom(ALLOWED, 'http://127.0.0.1:8080')).map(([prefix, origin]) => prefix + origin),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.webUrl().map((url) => new URL(url).origin),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('null', '', ' ', 'https://allowed.example/', 'https://allowed.example:443', 'https://allowed.example.', 'https://allowed.example\t', 'https://xn--llowed-cta.example', 'https://allowed.example%2f', 'file://', 'https://user@allowed.example')
)

t.test('parseOrigin: the exact serialized origin back, or a ConfigError, never anything else', async (t) => {
  fc.assert(fc.property(fc.oneof(nearOrigin, fc.anything()), (value) => {
    let parsed: string
    try {
      parsed = parseOrigin(value, 'test')
    } catch (error) {
      return error instanceof ConfigError
    }
    const url = new URL(parsed)
    return parsed === value && url.origin === parsed && (url.protocol === 'https:' || url.protocol === 'http:')
  }), { numRuns: 5000 })
  t.pass('5000 values')
})

t.test('every serialized http(s) origin is accepted by parseOrigin', async (t) => {
  fc.assert(fc.property(fc.webUrl({ validSchemes: ['http', 'https'] }), (url) => parseOrigin(new URL(url).origin, 'test') === new URL(url).origin), { numRuns: 1000 })
  t.pass('1000 origins')
})

t.test('OriginPolicy: a header is allowed exactly when it is an allowed origin, byte for byte', async (t) => {
  fc.assert(fc.property(nearOrigin, fc.boolean(), (origin, requireOrigin) => {
    const refusal = policy.check(origin, requireOrigin)
    const allowed = origin === ALLOWED || origin === 'http://127.0.0.1:8080'
    return allowed ? refusal === null : refusal instanceof OriginNotAllowedError
  }), { numRuns: 5000 })
  t.equal(policy.check(undefined, false), null, 'no Origin, not required: allowed')
  t.type(policy.check(undefined, true), OriginNotAllowedError, 'no Origin, required: refused')
})

t.test('the allowed origin followed by any non-empty suffix never matches', async (t) => {
  fc.assert(fc.property(fc.string({ unit: 'binary', minLength: 1 }), (suffix) => policy.check(ALLOWED + suffix, false) instanceof OriginNotAllowedError), { numRuns: 5000 })
  t.pass('5000 suffixes')
})
