import { Type, type Static, type TLiteral, type TObject, type TProperties } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import type { Message } from './connection.js'

/**
 * The JSON messages a route accepts: for each `type`, the TypeBox properties of the message
 * besides `type`. `{ say: { text: Type.String({ maxLength: 2000 }) } }` accepts
 * `{"type":"say","text":"hi"}` and nothing else with that type (no extra properties).
 */
export type MessageSchemas = Record<string, TProperties>

/** The statically typed union of the messages a route declared with {@link MessageSchemas}. */
export type TypedMessage<M extends MessageSchemas> = {
  [K in keyof M & string]: Static<TObject<M[K] & { type: TLiteral<K> }>>
}[keyof M & string]

/** What decoding one incoming message produced. */
export type Decoded =
  | { kind: 'message', value: { type: string } }
  | { kind: 'refresh', token: string }
  | { kind: 'invalid', frame: string }

/** The error frame sent for a message that cannot be used; the connection stays open. */
export function errorFrame (error: 'invalid_json' | 'invalid_message' | 'unknown_type', detail?: unknown): string {
  return JSON.stringify(detail === undefined ? { type: 'error', error } : { type: 'error', error, detail })
}

const INVALID_JSON = errorFrame('invalid_json')
const UNKNOWN_TYPE = errorFrame('unknown_type')
const BINARY = errorFrame('invalid_json', 'binary frames are not accepted on this route')

/**
 * Parses and validates `{"type": ...}` envelopes. Every schema is compiled once, when the route is
 * declared (TypeBox's TypeCompiler), never per message. With `interceptRefresh`, the framework's
 * own `{"type":"auth.refresh","token":"..."}` is recognized before the route's types.
 */
export class JsonMessageCodec {
  readonly #checks = new Map<string, TypeCheck<TObject>>()
  readonly #interceptRefresh: boolean

  constructor (schemas: MessageSchemas, interceptRefresh: boolean) {
    for (const [type, properties] of Object.entries(schemas)) {
      const schema = Type.Object({ ...properties, type: Type.Literal(type) }, { additionalProperties: false })
      this.#checks.set(type, TypeCompiler.Compile(schema))
    }
    this.#interceptRefresh = interceptRefresh
  }

  decode (message: Message): Decoded {
    if (typeof message !== 'string') return { kind: 'invalid', frame: BINARY }
    let value: unknown
    try {
      value = JSON.parse(message)
    } catch {
      return { kind: 'invalid', frame: INVALID_JSON }
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return { kind: 'invalid', frame: INVALID_JSON }
    const type = (value as { type?: unknown }).type
    if (this.#interceptRefresh && type === 'auth.refresh') {
      const token = (value as { token?: unknown }).token
      return typeof token === 'string' && token !== ''
        ? { kind: 'refresh', token }
        : { kind: 'invalid', frame: errorFrame('invalid_message', [{ path: '/token', message: 'Expected string' }]) }
    }
    const check = typeof type === 'string' ? this.#checks.get(type) : undefined
    if (check === undefined) return { kind: 'invalid', frame: UNKNOWN_TYPE }
    if (!check.Check(value)) {
      const detail = [...check.Errors(value)].slice(0, 5).map((error) => ({ path: error.path, message: error.message }))
      return { kind: 'invalid', frame: errorFrame('invalid_message', detail) }
    }
    return { kind: 'message', value: value as { type: string } }
  }
}
