import { createHmac } from 'node:crypto'

/** Builds a compact JWS by hand, so tests can make tokens the server must refuse (alg none, HS512, bad signature). */
export function forgeToken (header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | null): string {
  const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const signingInput = `${encode(header)}.${encode(payload)}`
  if (secret === null) return `${signingInput}.`
  const algorithm = header['alg'] === 'HS512' ? 'sha512' : header['alg'] === 'HS384' ? 'sha384' : 'sha256'
  return `${signingInput}.${createHmac(algorithm, secret).update(signingInput).digest('base64url')}`
}

/** Seconds since the epoch, `offsetS` from now. */
export function epoch (offsetS = 0): number {
  return Math.floor(Date.now() / 1000) + offsetS
}
