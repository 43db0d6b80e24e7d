import t from 'tap'
import { runDoctor } from '../../src/cli/doctor.js'
import { build } from '../helper.js'
import { runCli, testFile } from '../fixtures/doctor.js'

// The HTTP upgrade against the reference server: refusals explained with the server's error code.

t.test('an Origin the server does not allow: the upgrade step names ALLOWED_ORIGINS and the origin', async (t) => {
  const { wsUrl, ca } = await build(t, { config: { allowedOrigins: ['https://app.example'] } })
  const caFile = await testFile(t.testdir(), 'ca.pem', ca)
  const run = await runCli(['doctor', '--ca', caFile, '--origin', 'https://evil.example', '--timeout', '3000', `${wsUrl}/ws/echo`])
  t.equal(run.code, 1)
  t.match(run.stdout, /^✓ validity /m)
  t.match(run.stdout, /^✗ upgrade +the upgrade was refused: HTTP 403 origin_not_allowed: .+$/m)
  t.match(run.stdout, /^ {2}fix: the server's ALLOWED_ORIGINS must include https:\/\/evil\.example \(or connect from an origin it already lists\)$/m)

  const allowed = await runDoctor({ url: `${wsUrl}/ws/echo`, caFile, origin: 'https://app.example', timeoutMs: 3000 })
  t.equal(allowed.ok, true, allowed.summary)
})

t.test('no credentials on an authenticated route: 401 missing_token, "send --token or --ticket"', async (t) => {
  const { wsUrl, ca } = await build(t)
  const caFile = await testFile(t.testdir(), 'ca.pem', ca)
  const report = await runDoctor({ url: `${wsUrl}/ws/chat/lobby`, caFile, timeoutMs: 3000 })
  const upgrade = report.steps.at(-1)
  t.equal(upgrade?.step, 'upgrade')
  t.match(upgrade?.detail, /^the upgrade was refused: HTTP 401 missing_token: /)
  t.equal(upgrade?.fix, 'this route needs credentials: send --token <jwt> (sent as Authorization: Bearer) or --ticket <ticket> (sent as a Sec-WebSocket-Protocol entry)')

  const run = await runCli(['doctor', '--json', '--ca', caFile, '--token', 'not-a-jwt', `${wsUrl}/ws/chat/lobby`])
  t.equal(run.code, 1)
  const json = JSON.parse(run.stdout) as { ok: boolean, steps: Array<{ step: string, ok: boolean, detail: string, fix?: string }>, summary: string }
  t.equal(json.ok, false)
  t.match(json.steps.at(-1), { step: 'upgrade', ok: false, detail: /HTTP 401 invalid_token/, fix: /refused the credentials/ })
  t.match(json.summary, /^broken at upgrade: /)
  t.notMatch(run.stdout, /not-a-jwt/, 'the token is never printed')
})

t.test('a ticket travels as subprotocols: the server selects "tether" and the ticket is never printed', async (t) => {
  const server = await build(t)
  const caFile = await testFile(t.testdir(), 'ca.pem', server.ca)
  const ticket = server.ticket({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 300 })
  const report = await runDoctor({ url: `${server.wsUrl}/ws/chat/lobby`, caFile, ticket, timeoutMs: 3000 })
  const subprotocol = report.steps.find((step) => step.step === 'subprotocol')
  t.equal(subprotocol?.detail, 'offered tether, tether.ticket.<ticket>; selected tether')
  t.equal(report.ok, true, report.summary)
  t.notMatch(JSON.stringify(report), ticket)

  const reused = await runDoctor({ url: `${server.wsUrl}/ws/chat/lobby`, caFile, ticket, timeoutMs: 3000 })
  t.match(reused.steps.at(-1), { step: 'upgrade', ok: false, detail: /HTTP 401 invalid_ticket/, fix: /tickets are single-use and short-lived/ })
})

t.test('a path that serves no WebSocket: 404 not_websocket_route', async (t) => {
  const { wsUrl, ca } = await build(t)
  const caFile = await testFile(t.testdir(), 'ca.pem', ca)
  const report = await runDoctor({ url: `${wsUrl}/ws/nope`, caFile, timeoutMs: 3000 })
  t.match(report.steps.at(-1), { step: 'upgrade', ok: false, detail: /HTTP 404 not_websocket_route/, fix: /no WebSocket is served at \/ws\/nope/ })
})

t.test('usage: --help exits 0, bad options and URLs exit 2', async (t) => {
  const help = await runCli(['doctor', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /Usage: fastify-tether doctor \[options\] <url>/)
  t.notMatch(help.stdout, /insecure|no-verify|reject/i, 'there is no option to skip verification')
  for (const args of [['doctor'], ['doctor', '--insecure', 'wss://localhost/'], ['doctor', 'https://localhost/'], ['doctor', 'not a url'],
    ['doctor', '--timeout', 'soon', 'wss://localhost/'], ['doctor', '--header', 'no colon', 'wss://localhost/'], ['doctor', '--ca', '/nonexistent/ca.pem', 'wss://localhost/']]) {
    const run = await runCli(args)
    t.equal(run.code, 2, args.join(' '))
    t.match(run.stderr, /error/, args.join(' '))
  }
})
