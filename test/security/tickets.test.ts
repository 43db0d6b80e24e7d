import { request } from 'node:https'
import t from 'tap'
import { build, type Built } from '../helper.js'
import { collect } from 'fastify-tether/testing'
import { attemptRefused } from './refusal.js'

interface Answer { status: number, body: Record<string, unknown> }

async function post (built: Built, path: string, headers: Record<string, string>, body?: object): Promise<Answer> {
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request(`${built.url}${path}`, {
      method: 'POST',
      ca: built.ca,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }
    }, resolve).on('error', reject).end(body === undefined ? undefined : JSON.stringify(body))
  })
  let text = ''
  for await (const chunk of response) text += String(chunk)
  return { status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }
}

function whoami (app: Built['app']): void {
  app.ws('/test/whoami', async (connection) => {
    await connection.send(connection.request.user.sub)
  })
}

t.test('a ticket from POST /auth/ticket opens the route once, with request.user.sub set', async (t) => {
  const built = await build(t, { routes: whoami })
  const token = built.token({ sub: 'alice', amr: ['mfa'] })
  const issued = await post(built, '/auth/ticket', { authorization: `Bearer ${token}` })
  t.equal(issued.status, 200)
  t.equal(issued.body['expiresIn'], 30)
  const ticket = String(issued.body['ticket'])
  t.match(ticket, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url')
  const ws = await built.connect(`/test/whoami?ticket=${ticket}`)
  t.same(await collect(ws, 1), ['alice'])
  t.notOk(JSON.stringify(built.logs.lines).includes(ticket), 'the ticket never appears in the logs')
  t.notOk(JSON.stringify(built.logs.lines).includes(token), 'the token never appears in the logs')
  t.ok(built.logs.lines.some((l) => String((l['req'] as { url?: string } | undefined)?.url).includes('ticket=[redacted]')), 'the URL is logged redacted')
})

t.test('a reused ticket: 401 invalid_ticket and the handler does not run again', async (t) => {
  const built = await build(t, { routes: whoami })
  const issued = await post(built, '/auth/ticket', { authorization: `Bearer ${built.token({ sub: 'alice' })}` })
  const url = `${built.wsUrl}/test/whoami?ticket=${String(issued.body['ticket'])}`
  const ws = await built.connect(`/test/whoami?ticket=${String(issued.body['ticket'])}`)
  await collect(ws, 1)
  const refusal = await attemptRefused(url, { ca: built.ca })
  t.equal(refusal.status, 401)
  t.equal(refusal.body.error, 'invalid_ticket')
  t.equal(built.handlerRuns('/test/whoami'), 1)
})

t.test('an expired ticket: 401 invalid_ticket', async (t) => {
  // A lifetime of 0 ms makes every ticket expired by the time it is redeemed, without waiting.
  const built = await build(t, { routes: whoami, tether: { ticketTtlMs: 0 } })
  const issued = await post(built, '/auth/ticket', { authorization: `Bearer ${built.token({ sub: 'alice' })}` })
  const refusal = await attemptRefused(`${built.wsUrl}/test/whoami?ticket=${String(issued.body['ticket'])}`, { ca: built.ca })
  t.equal(refusal.status, 401)
  t.equal(refusal.body.error, 'invalid_ticket')
  t.equal(built.handlerRuns('/test/whoami'), 0)
})

t.test('an unknown ticket: 401 invalid_ticket', async (t) => {
  const built = await build(t, { routes: whoami })
  const refusal = await attemptRefused(`${built.wsUrl}/test/whoami?ticket=${'A'.repeat(43)}`, { ca: built.ca })
  t.same([refusal.status, refusal.body.error], [401, 'invalid_ticket'])
})

t.test('POST /auth/ticket needs a valid bearer token', async (t) => {
  const built = await build(t)
  const missing = await post(built, '/auth/ticket', {})
  t.same([missing.status, missing.body['error']], [401, 'missing_token'])
  const bad = await post(built, '/auth/ticket', { authorization: 'Bearer not.a.token' })
  t.same([bad.status, bad.body['error']], [401, 'invalid_token'])
})

// POST /auth/dev-token: test/security/dev-tokens.test.ts.
