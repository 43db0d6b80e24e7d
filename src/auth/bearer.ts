import type { FastifyRequest } from 'fastify'
import { BadRequestError, InvalidTokenError } from '../errors.js'

const BEARER = /^Bearer ([A-Za-z0-9\-_.~+/]+=*)$/

/**
 * The bearer token of a request (RFC 6750 section 2.1), `undefined` without an Authorization
 * header. A header that is not `Bearer <token>` refuses with `invalid_token`; two Authorization
 * headers refuse with 400, since which one counts would be ambiguous.
 */
export function bearerToken (request: FastifyRequest): string | undefined {
  const raw = request.raw.headersDistinct?.['authorization']
  if (raw !== undefined && raw.length > 1) throw new BadRequestError('invalid_request', 'more than one Authorization header')
  const header = request.headers.authorization
  if (header === undefined) return undefined
  const match = BEARER.exec(header)
  if (match?.[1] === undefined) throw new InvalidTokenError('the Authorization header must be "Bearer <token>"')
  return match[1]
}
