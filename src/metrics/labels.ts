/** The close codes RFC 6455 and the IANA registry name (1000-1015): kept as they are in labels. */
const NAMED_CODES = new Set([1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015])

/**
 * A close code as a label value with bounded cardinality: the named codes as themselves,
 * application codes by range (`3xxx` registered, `4xxx` private; a client chooses those freely),
 * anything else `other`.
 */
export function closeCodeLabel (code: number): string {
  if (NAMED_CODES.has(code)) return String(code)
  if (code >= 3000 && code <= 3999) return '3xxx'
  if (code >= 4000 && code <= 4999) return '4xxx'
  return 'other'
}

/**
 * A refusal reason as a label value: the framework's reasons and a host's policy reasons are
 * snake_case words; anything else (a reason built from request data) becomes `other`, so a label
 * can never carry a user id, a URL or a token.
 */
export function reasonLabel (reason: string): string {
  return /^[a-z][a-z0-9_]{0,63}$/.test(reason) ? reason : 'other'
}
