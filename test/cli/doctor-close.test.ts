import t from 'tap'
import { tetherTest } from 'fastify-tether/testing'
import { CLOSE_CODES, explainCloseCode, explainRefusal, formatReport, runDoctor } from '../../src/cli/doctor.js'
import { testFile } from '../fixtures/doctor.js'

// After the upgrade: the round trip and the close code, and the tables behind the explanations.

t.test('a route that fails: the round trip reports 1011 and what it means', async (t) => {
  const received: unknown[] = []
  const server = await tetherTest(t, {
    routes: (app) => {
      app.ws('/ws/fails', { auth: false }, async () => { throw new Error('boom') })
      app.ws('/ws/policy', { auth: false }, async (connection) => {
        for await (const message of connection.messages()) if (message !== undefined) connection.close(1008, 'rate limit exceeded')
      })
      app.ws('/ws/silent', { auth: false }, async (connection) => {
        for await (const message of connection.messages()) received.push(message) // never answers
      })
    }
  })
  const caFile = await testFile(t.testdir(), 'ca.pem', server.ca)

  const fails = await runDoctor({ url: `${server.wsUrl}/ws/fails`, caFile, timeoutMs: 3000 })
  t.match(fails.steps.at(-1), { step: 'round-trip', ok: false, detail: 'the server closed the connection before answering: 1011 internal error "internal error"', fix: /the route handler threw/ })

  const policy = await runDoctor({ url: `${server.wsUrl}/ws/policy`, caFile, timeoutMs: 3000 })
  t.match(policy.steps.at(-1), { step: 'round-trip', ok: false, detail: /1008 policy violation "rate limit exceeded"/, fix: /enforced a policy.*\(reason "rate limit exceeded"\)/ })

  const silent = await runDoctor({ url: `${server.wsUrl}/ws/silent`, caFile, timeoutMs: 500 })
  t.equal(silent.ok, true, silent.summary)
  t.match(silent.steps.find((step) => step.step === 'round-trip'), { ok: true, detail: /nothing came back within 500 ms \(the connection stayed open/ })
  t.equal(silent.latencyMs, undefined)
  t.equal(received.length, 1, 'the silent route got the message')
  t.match(formatReport(silent), /^healthy: every link is healthy$/m)
})

t.test('the close-code table covers 1000-1015 and the application range', async (t) => {
  for (let code = 1000; code <= 1015; code++) t.ok(CLOSE_CODES[code], `${code} is explained`)
  t.equal(explainCloseCode(1000).healthy, true)
  t.match(explainCloseCode(1013, 'slow consumer'), { name: 'try again later', healthy: false, meaning: /slow consumer/ })
  t.match(explainCloseCode(1001), { meaning: /shutting down/ })
  t.match(explainCloseCode(4403, 'room closed'), { name: 'application code', meaning: /4000-4999\) \(reason "room closed"\)/ })
  t.match(explainCloseCode(3001), { name: 'registered code' })
  t.match(explainCloseCode(999), { name: 'invalid code' })
})

t.test('refusals: every status the server sends, explained', async (t) => {
  const base = { sentCredentials: false, path: '/ws/echo' }
  t.match(explainRefusal({ ...base, status: 429, error: 'rate_limited', retryAfter: '17' }).fix, /try again after Retry-After: 17 s/)
  t.match(explainRefusal({ ...base, status: 429, error: 'too_many_connections' }).fix, /already holds the most open connections/)
  t.match(explainRefusal({ ...base, status: 503, error: 'shutting_down' }).fix, /shutting down/)
  t.match(explainRefusal({ ...base, status: 503, error: 'overloaded', retryAfter: '5' }).fix, /memory or event-loop limit.*Retry-After: 5 s/)
  t.match(explainRefusal({ ...base, status: 503 }).fix, /no healthy server behind it/)
  t.match(explainRefusal({ ...base, status: 426, error: 'upgrade_required' }).fix, /dropped the Upgrade header \(a proxy without WebSocket support\)/)
  t.match(explainRefusal({ ...base, status: 426, error: 'unsupported_version' }).fix, /version other than 13/)
  t.match(explainRefusal({ ...base, status: 400, error: 'invalid_room' }).fix, /malformed \(invalid_room\)/)
  t.match(explainRefusal({ ...base, status: 403 }).fix, /ALLOWED_ORIGINS|policy refused/)
  t.match(explainRefusal({ ...base, status: 403, error: 'origin_not_allowed' }).fix, /requires an Origin header: send the page's origin with --origin/)
  t.match(explainRefusal({ ...base, status: 403, error: 'room_not_allowed' }).fix, /policy refused this user \(room_not_allowed\)/)
  t.match(explainRefusal({ ...base, status: 401, sentCredentials: true, error: 'token_expired' }).fix, /expired/)
  t.match(explainRefusal({ ...base, status: 302, location: 'https://login.example/' }), { detail: /Location: https:\/\/login\.example\//, fix: /do not follow redirects/ })
  t.match(explainRefusal({ ...base, status: 502 }).fix, /could not reach the server/)
  t.match(explainRefusal({ ...base, status: 200 }).fix, /^something between you and the server dropped the Upgrade header/)
})
