import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { createSigner, type Algorithm } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { TetherSettings } from 'fastify-tether'
import type { ConnectOptions, TestServer } from 'fastify-tether/testing'

// What the scheme tests share: routes that show who connected, key pairs, token makers, and the
// behaviours every scheme must have (tickets, expiry, refresh, per-user caps), written once.

/** Seconds since the epoch, `offsetS` from now. */
export function epoch (offsetS = 0): number {
  return Math.floor(Date.now() / 1000) + offsetS
}

/**
 * `/who` says `{"type":"hello","sub"}` and stays open until the connection closes; `/ticks`
 * also pushes `{"type":"tick","at"}` every 50 ms, so a test can wait for time to pass by events.
 */
export function schemeRoutes (app: FastifyInstance): void {
  app.ws('/who', { messages: {} }, async (connection) => {
    await connection.send(JSON.stringify({ type: 'hello', sub: connection.request.user.sub }))
    await connection.closed // auth.refresh is read by the framework, not the handler
  })
  app.ws('/ticks', { messages: {} }, async (connection) => {
    await connection.send(JSON.stringify({ type: 'hello', sub: connection.request.user.sub }))
    const timer = setInterval(() => connection.push(JSON.stringify({ type: 'tick', at: Date.now() })), 50)
    await connection.closed
    clearInterval(timer)
  })
}

/** An asymmetric key pair as PEM strings. */
export interface KeyPair {
  publicKey: string
  privateKey: string
  publicKeyObject: KeyObject
}

/** A fresh key pair for `algorithm`: RSA 2048 for RS*, P-256 for ES256, Ed25519 for EdDSA. */
export function keyPair (algorithm: 'RS256' | 'ES256' | 'EdDSA'): KeyPair {
  const pair = algorithm === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : algorithm === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('ed25519')
  return {
    publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyObject: pair.publicKey
  }
}

/** Signs `claims` (exactly as given: no `iat` or `exp` added) with fast-jwt. */
export function signWith (key: string, algorithm: Algorithm, claims: Record<string, unknown>, kid?: string): string {
  return createSigner({ key, algorithm, ...(kid === undefined ? {} : { kid }) })(claims)
}

/** Builds a compact JWS by hand, for tokens a verifier must refuse (alg none, HS512, a public key as HMAC secret). */
export function forgeToken (header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | null): string {
  const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const input = `${encode(header)}.${encode(payload)}`
  if (secret === null) return `${input}.`
  const hash = header['alg'] === 'HS512' ? 'sha512' : header['alg'] === 'HS384' ? 'sha384' : 'sha256'
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
}

/** Starts a server with {@link schemeRoutes} and the scheme under test, with these settings. */
export type StartServer = (t: Test, settings?: Partial<TetherSettings>) => Promise<TestServer>

/** How a scheme under test presents credentials for `sub` expiring at `exp` (epoch seconds). */
export type Credentials = (sub: string, exp: number) => ConnectOptions

/** The shared behaviours, and what they need of the scheme. */
export interface SchemeUnderTest {
  start: StartServer
  credentials: Credentials
  /** A token `auth.refresh` accepts, or `'refused'` for schemes without `verifyToken`. */
  refresh: ((sub: string, exp: number) => string) | 'refused'
}

/** Registers the behaviours every scheme shares as subtests of `t`. */
export function sharedBehaviours (t: Test, scheme: SchemeUnderTest): void {
  const { start, credentials, refresh } = scheme

  t.test('a ticket from server.ticket(claims) opens the route once; the second use is 401 invalid_ticket', async (t) => {
    const server = await start(t)
    const ticket = server.ticket({ sub: 'tina', exp: epoch(60) })
    const client = await server.connect('/who', { ticket })
    t.same(await client.nextJson(), { type: 'hello', sub: 'tina' })
    const again = await server.expectRefusal('/who', { ticket })
    t.same([again.status, again.error], [401, 'invalid_ticket'])
  })

  t.test('the connection closes with 1008 "token expired" when exp passes', async (t) => {
    const server = await start(t)
    const client = await server.connect('/who', credentials('eve', epoch(2)))
    t.same(await client.nextJson(), { type: 'hello', sub: 'eve' })
    t.same(await client.closed(5_000), { code: 1008, reason: 'token expired' })
  })

  if (refresh === 'refused') {
    t.test('auth.refresh is refused (the scheme has no tokens) and the connection closes with 1008', async (t) => {
      const server = await start(t)
      const client = await server.connect('/who', credentials('rita', epoch(60)))
      t.same(await client.nextJson(), { type: 'hello', sub: 'rita' })
      client.send({ type: 'auth.refresh', token: 'anything' })
      const closed = await client.closed()
      t.equal(closed.code, 1008)
      t.match(closed.reason, /cannot refresh/)
    })
  } else {
    t.test('auth.refresh moves the expiry: the connection outlives its first exp', async (t) => {
      const server = await start(t)
      const firstExp = epoch(2)
      const client = await server.connect('/ticks', credentials('rita', firstExp))
      t.same(await client.nextJsonWhere((m) => m['type'] === 'hello'), { type: 'hello', sub: 'rita' })
      const secondExp = epoch(60)
      client.send({ type: 'auth.refresh', token: refresh('rita', secondExp) })
      t.same(await client.nextJsonWhere((m) => m['type'] === 'auth.refreshed'), { type: 'auth.refreshed', exp: secondExp })
      const late = await client.nextJsonWhere((m) => m['type'] === 'tick' && Number(m['at']) > firstExp * 1000 + 300, 5_000)
      t.ok(late, 'ticks keep coming after the first exp')
      t.equal(client.ws.readyState, client.ws.OPEN)
    })

    t.test('auth.refresh with a token for another subject closes with 1008', async (t) => {
      const server = await start(t)
      const client = await server.connect('/who', credentials('rita', epoch(60)))
      await client.nextJson()
      client.send({ type: 'auth.refresh', token: refresh('mallory', epoch(60)) })
      t.same(await client.closed(), { code: 1008, reason: 'the new token is for another subject' })
    })
  }

  t.test('maxConnectionsPerUser: 1 refuses a second connection of the same user with 429 too_many_connections', async (t) => {
    const server = await start(t, { maxConnectionsPerUser: 1 })
    const first = await server.connect('/who', credentials('carl', epoch(60)))
    t.same(await first.nextJson(), { type: 'hello', sub: 'carl' })
    const second = await server.expectRefusal('/who', credentials('carl', epoch(60)))
    t.same([second.status, second.error], [429, 'too_many_connections'])
    const other = await server.connect('/who', credentials('dora', epoch(60)))
    t.same(await other.nextJson(), { type: 'hello', sub: 'dora' }, 'another user still connects')
  })
}
