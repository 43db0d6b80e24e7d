// Property tests of the JSON message codec (src/json-messages.ts): whatever arrives, decode never
// throws and answers one of its three kinds; messages valid for the route's schemas round-trip.
import { Type } from '@sinclair/typebox'
import fc from 'fast-check'
import t from 'tap'
import { JsonMessageCodec, type Decoded } from '../../src/json-messages.js'

const codec = new JsonMessageCodec({
  say: { text: Type.String({ minLength: 1, maxLength: 2000 }) },
  move: { x: Type.Integer(), y: Type.Integer(), note: Type.Optional(Type.String()) },
  ping: {}
}, true)

function wellFormed (decoded: Decoded): boolean {
  switch (decoded.kind) {
    case 'message': return typeof decoded.value === 'object' && decoded.value !== null && typeof decoded.value.type === 'string'
    case 'refresh': return typeof decoded.token === 'string' && decoded.token !== ''
    case 'invalid': {
      const frame = JSON.parse(decoded.frame) as { type?: unknown, error?: unknown }
      return frame.type === 'error' && ['invalid_json', 'invalid_message', 'unknown_type'].includes(String(frame.error))
    }
    default: return false
  }
}

// Strings that look like envelopes often enough to get past JSON.parse and reach the schemas.
const envelope = fc.record({
  type: fc.oneof(fc.constantFrom('say', 'move', 'ping', 'auth.refresh', '__proto__', 'constructor', 'toString', ''), fc.string(), fc.anything()),
  text: fc.oneof(fc.string(), fc.anything()),
  x: fc.oneof(fc.integer(), fc.double(), fc.anything()),
  y: fc.oneof(fc.integer(), fc.anything()),
  token: fc.oneof(fc.string(), fc.anything())
}, { requiredKeys: [] })
const anyText = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.json(),
  envelope.map((value) => JSON.stringify(value)),
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.constantFrom('{"__proto__":{"type":"say"}}', '{"type":"say","text":"x","__proto__":{}}', '{"type":"say","text":"\\ud800"}', '1e400', '[]', 'null', '"say"')
)

t.test('decode never throws and always answers one of the three kinds (any string)', async (t) => {
  fc.assert(fc.property(anyText, (text) => wellFormed(codec.decode(text))), { numRuns: 5000 })
  t.pass('5000 strings')
})

t.test('decode of any Buffer is invalid (binary frames are not JSON messages)', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
    const decoded = codec.decode(Buffer.from(bytes))
    return decoded.kind === 'invalid' && wellFormed(decoded)
  }), { numRuns: 1000 })
  t.pass('1000 buffers')
})

t.test('valid generated messages round-trip; valid refreshes are recognized', async (t) => {
  const say = fc.record({ type: fc.constant('say'), text: fc.string({ minLength: 1, maxLength: 2000 }) })
  const move = fc.record({ type: fc.constant('move'), x: fc.integer(), y: fc.integer(), note: fc.string() }, { requiredKeys: ['type', 'x', 'y'] })
  const ping = fc.constant({ type: 'ping' })
  fc.assert(fc.property(fc.oneof(say, move, ping), (message) => {
    const decoded = codec.decode(JSON.stringify(message))
    return decoded.kind === 'message' && JSON.stringify(decoded.value) === JSON.stringify(message)
  }), { numRuns: 2000 })
  fc.assert(fc.property(fc.string({ minLength: 1 }), (token) => {
    const decoded = codec.decode(JSON.stringify({ type: 'auth.refresh', token }))
    return decoded.kind === 'refresh' && decoded.token === token
  }), { numRuns: 1000 })
  t.pass('3000 valid messages')
})

t.test('a message with an extra property or a wrong type never decodes as a message', async (t) => {
  const extraKey = fc.string({ minLength: 1 }).filter((key) => !['type', 'text'].includes(key))
  fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 50 }), extraKey, fc.jsonValue(), (text, key, value) => {
    const decoded = codec.decode(JSON.stringify({ type: 'say', text, [key]: value }))
    return decoded.kind === 'invalid'
  }), { numRuns: 1000 })
  fc.assert(fc.property(fc.jsonValue().filter((value) => typeof value !== 'string'), (text) => {
    return codec.decode(JSON.stringify({ type: 'say', text })).kind === 'invalid'
  }), { numRuns: 1000 })
  t.pass('2000 near-misses')
})
