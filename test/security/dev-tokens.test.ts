import { createVerifier, type Algorithm } from 'fast-jwt'
import { request } from 'node:https'
import t from 'tap'
import { ConfigError } from 'fastify-tether'
import { testCertificates, waitClose } from 'fastify-tether/testing'
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'
import { build, type Built } from '../helper.js'
import { attemptRefused } from './refusal.js'

// Finding 2 of the "Hardening" issue: POST /auth/dev-token minted any identity, unauthenticated,
// whenever NODE_ENV was not production. It now exists only with DEV_TOKENS=on.

interface Answer { status: number, body: Record<string, unknown> }

async function devToken (built: Built, body: object): Promise<Answer> {
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request(`${built.url}/auth/dev-token`, { method: 'POST', ca: built.ca, headers: { 'content-type': 'application/json' } }, resolve)
      .on('error', reject).end(JSON.stringify(body))
  })
  let text = ''
  for await (const chunk of response) text += String(chunk)
  return { status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }
}

function claimsOf (built: Built, token: unknown): { sub: string, amr: string[], exp: number, iat: number } {
  return createVerifier({ key: built.app.config.jwtSecret, algorithms: ['HS256' as Algorithm] })(String(token)) as { sub: string, amr: string[], exp: number, iat: number }
}

t.test('DEV_TOKENS: off by default, on/off switch, refused with NODE_ENV=production naming both', async (t) => {
  t.equal(loadConfig({}).devTokens, false, 'off when unset')
  t.equal(loadConfig({ JWT_SECRET: 'x'.repeat(32) }).devTokens, false, 'off outside production even with JWT_SECRET')
  t.equal(loadConfig({ DEV_TOKENS: 'on' }).devTokens, true)
  t.equal(loadConfig({ DEV_TOKENS: 'off' }).devTokens, false)
  t.throws(() => loadConfig({ DEV_TOKENS: 'yes please' }), { message: /^DEV_TOKENS must be on or off/ })
  const production = { NODE_ENV: 'production', TLS_CERT: '/a.pem', TLS_KEY: '/b.pem', JWT_SECRET: 'x'.repeat(32) }
  t.equal(loadConfig(production).devTokens, false)
  t.throws(() => loadConfig({ ...production, DEV_TOKENS: 'on' }), { name: 'ConfigError', message: /DEV_TOKENS=on.*NODE_ENV=production/ })
})

t.test('without DEV_TOKENS the route does not exist (404), JWT_SECRET set or not, and nothing is minted', async (t) => {
  for (const config of [{}, { jwtSecret: 'y'.repeat(32), jwtSecretGenerated: false }]) {
    const built = await build(t, { config })
    const answer = await devToken(built, { sub: 'admin', mfa: true })
    t.equal(answer.status, 404)
    t.notOk('token' in answer.body)
    t.notOk(built.logs.text().includes('DEV_TOKENS=on'), 'no dev-token warning')
  }
})

t.test('in production the route does not exist, and a config made in code cannot enable it', async (t) => {
  const built = await build(t, { config: { production: true } })
  t.equal((await devToken(built, { sub: 'alice' })).status, 404)
  const certs = await testCertificates()
  await t.rejects(buildApp({
    config: { ...loadConfig({}), production: true, devTokens: true, logLevel: 'silent' },
    certificate: { cert: certs.cert, key: certs.key },
    logger: false
  }), ConfigError)
})

t.test('DEV_TOKENS=on: a warning at start, a token with amr mfa when asked, exp - iat the requested seconds', async (t) => {
  const built = await build(t, { config: { devTokens: true } })
  const warning = built.logs.lines.find((line) => line.level === 40 && String(line.msg).includes('DEV_TOKENS=on'))
  t.ok(warning, 'a warn line says dev tokens are on')
  const answer = await devToken(built, { sub: 'alice', mfa: true })
  t.equal(answer.status, 200)
  const claims = claimsOf(built, answer.body['token'])
  t.equal(claims.sub, 'alice')
  t.equal(claims.exp - claims.iat, 900, 'the documented 15 minutes, in seconds')
  t.same(claims.amr, ['pwd', 'mfa'])
  t.ok(claims.exp > Date.now() / 1000)
  const short = claimsOf(built, (await devToken(built, { sub: 'bob', expiresIn: 60 })).body['token'])
  t.equal(short.exp - short.iat, 60, 'expiresIn is seconds')
  t.same(short.amr, ['pwd'])
  t.equal((await devToken(built, { sub: '' })).status, 400)
  t.equal((await devToken(built, { sub: 'alice', expiresIn: 0 })).status, 400)
  const extra = await devToken(built, { sub: 'alice', admin: true }) // Fastify's Ajv drops unknown properties
  t.notOk('admin' in claimsOf(built, extra.body['token']), 'no claims beyond the documented ones')
})

t.test('DEV_TOKENS=on: a token with expiresIn 1 works until it passes, then is refused', async (t) => {
  const built = await build(t, { config: { devTokens: true } })
  const { token } = (await devToken(built, { sub: 'alice', mfa: true, expiresIn: 1 })).body as { token: string }
  const claims = claimsOf(built, token)
  t.equal(claims.exp - claims.iat, 1)
  const headers = { authorization: `Bearer ${token}` }
  const ws = await built.connect('/ws/feed', { headers })
  // The connection ends when exp passes: that is the event to wait for (bounded), not a sleep.
  t.same(await waitClose(ws, 3_000), { code: 1008, reason: 'token expired' })
  t.ok(Date.now() >= claims.exp * 1000, 'closed no earlier than exp')
  const refusal = await attemptRefused(`${built.wsUrl}/ws/feed`, { ca: built.ca, headers })
  t.same([refusal.status, refusal.body.error], [401, 'invalid_token'])
})
