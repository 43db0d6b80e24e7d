import { spawn } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import { withTimeout } from 'fastify-tether/testing'
import { runDoctor } from '../../src/cli/doctor.js'
import { build } from '../helper.js'
import { INSECURE_ADVICE, makeLeaf, runCli, testFile } from '../fixtures/doctor.js'
import { PYTHON, pythonWebsocketsMissing } from '../python.js'

// Certificate trust: the classic "works in curl -k, fails everywhere else" reports.

t.test('a development server whose CA is not trusted: the trust step names the CA and the trust commands', async (t) => {
  const { wsUrl } = await build(t)
  const report = await runDoctor({ url: `${wsUrl}/ws/echo`, timeoutMs: 3000 })
  t.equal(report.ok, false)
  t.same(report.steps.map((step) => [step.step, step.ok]), [['dns', true], ['tcp', true], ['tls', true], ['trust', false]])
  const trust = report.steps[3]
  t.match(trust?.detail, /the certificate was issued by CN=fastify-tether development CA \(.*\), O=fastify-tether development, which is not trusted here, and the server does not send it/)
  t.match(trust?.fix, /this is a fastify-tether development server: trust its development CA/)
  t.match(trust?.fix, /\.certs\/ca\.pem in the server's CERT_DIR/)
  t.match(trust?.fix, /NODE_EXTRA_CA_CERTS=\.certs\/ca\.pem/)
  t.match(trust?.fix, /curl --cacert \.certs\/ca\.pem/)
  t.match(trust?.fix, /cafile="\.certs\/ca\.pem"/)
  t.match(trust?.fix, /README "Trust the dev CA"/)
  t.match(trust?.fix, /fastify-tether doctor --ca \.certs\/ca\.pem wss:\/\/localhost:\d+\/ws\/echo/)
  t.notMatch(JSON.stringify(report), INSECURE_ADVICE)

  const run = await runCli(['doctor', '--timeout', '3000', `${wsUrl}/ws/echo`])
  t.equal(run.code, 1, 'a broken link exits 1')
  t.match(run.stdout, /^✓ tls +TLSv1\.3, TLS_AES_\w+$/m)
  t.match(run.stdout, /^✗ trust +the certificate was issued by CN=fastify-tether development CA/m)
  t.match(run.stdout, /^ {2}fix: this is a fastify-tether development server/m)
  t.notMatch(run.stdout, INSECURE_ADVICE)
})

t.test('with --ca pointing at that CA every link is healthy: exit 0, the round trip timed', async (t) => {
  const { wsUrl, ca } = await build(t)
  const caFile = await testFile(t.testdir(), 'ca.pem', ca)
  const run = await runCli(['doctor', '--ca', caFile, `${wsUrl}/ws/echo`])
  t.equal(run.code, 0, run.stdout + run.stderr)
  const lines = run.stdout.trim().split('\n')
  t.same(lines.slice(1, -1).map((line) => line.split(/ +/).slice(0, 2).join(' ')),
    ['✓ dns', '✓ tcp', '✓ tls', '✓ trust', '✓ hostname', '✓ validity', '✓ upgrade', '✓ subprotocol', '✓ round-trip', '✓ close'])
  t.match(run.stdout, new RegExp(`✓ trust +issued by fastify-tether development CA .*, trusted by --ca ${caFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
  t.match(run.stdout, /✓ hostname +localhost matches DNS:localhost, IP:127\.0\.0\.1, IP:::1/)
  t.match(run.stdout, /✓ round-trip +sent a text message, first message back in [\d.]+ ms \(21 bytes\)/)
  t.match(run.stdout, /✓ close +closed cleanly: 1000 normal closure/)
  t.match(lines.at(-1), /^healthy: every link is healthy \(round trip [\d.]+ ms\)$/)

  const json = await runCli(['doctor', '--json', '--ca', caFile, `${wsUrl}/ws/echo`])
  t.equal(json.code, 0)
  const report = JSON.parse(json.stdout) as { ok: boolean, steps: Array<{ step: string, ok: boolean, detail: string }>, summary: string, latencyMs: number }
  t.equal(report.ok, true)
  t.equal(report.steps.length, 10)
  t.ok(report.steps.every((step) => step.ok && typeof step.detail === 'string' && !('fix' in step)))
  t.type(report.latencyMs, 'number')
})

t.test('a Python websockets server with a self-signed certificate: its subject and fingerprint, and how to trust it', { skip: await pythonWebsocketsMissing() }, async (t) => {
  const pair = await makeLeaf({ dns: ['localhost'], subject: 'CN=localhost, O=python demo' })
  const dir = t.testdir()
  const certFile = await testFile(dir, 'cert.pem', pair.cert)
  const keyFile = await testFile(dir, 'key.pem', pair.key)
  const child = spawn(PYTHON, [join(import.meta.dirname, '..', 'fixtures', 'python-wss-server.py'), certFile, keyFile], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill() })
  const port = await withTimeout(new Promise<number>((resolve) => {
    child.stdout.setEncoding('utf8').once('data', (line: string) => resolve(Number(line.trim())))
  }), 'for the python server to print its port', 10_000)
  const url = `wss://localhost:${port}/`
  const fingerprint = new X509Certificate(pair.cert).fingerprint256

  const report = await runDoctor({ url, timeoutMs: 3000 })
  t.same(report.steps.map((step) => [step.step, step.ok]), [['dns', true], ['tcp', true], ['tls', true], ['trust', false]])
  const trust = report.steps[3]
  t.equal(trust?.detail, `the server's certificate is self-signed (CN=localhost, O=python demo, SHA-256 ${fingerprint}), and it is not trusted`)
  t.match(trust?.fix, `trust this exact certificate (CN=localhost, O=python demo, SHA-256 ${fingerprint})`)
  t.match(trust?.fix, /the file the server loads \(its TLS_CERT\) and check its fingerprint/)
  t.match(trust?.fix, `fastify-tether doctor --ca CA.pem ${url}`)
  t.notMatch(trust?.fix, /development/)
  t.notMatch(JSON.stringify(report), INSECURE_ADVICE)

  const trusted = await runCli(['doctor', '--ca', certFile, url])
  t.equal(trusted.code, 0, trusted.stdout)
  t.match(trusted.stdout, /✓ round-trip +sent a text message, first message back in [\d.]+ ms \(21 bytes\)/)
})
