import { join } from 'node:path'
import t from 'tap'
import { ensureDevCertificates } from 'fastify-tether/dev-certs'
import { testCertificates } from 'fastify-tether/testing'
import { runDoctor } from '../../src/cli/doctor.js'
import { INSECURE_ADVICE, makeCa, makeLeaf, runCli, testFile, tlsServer } from '../fixtures/doctor.js'

// The certificate itself: the name asked for, and its dates.

t.test('a certificate without the name used: the hostname step lists the names it has', async (t) => {
  const ca = await makeCa('doctor test CA')
  const leaf = await makeLeaf({ dns: ['example.test', 'www.example.test'], ca })
  const port = await tlsServer(t, { cert: leaf.cert, key: leaf.key })
  const caFile = await testFile(t.testdir(), 'ca.pem', ca.cert)
  const report = await runDoctor({ url: `wss://localhost:${port}/ws`, caFile, timeoutMs: 3000 })
  t.same(report.steps.map((step) => [step.step, step.ok]), [['dns', true], ['tcp', true], ['tls', true], ['trust', true], ['hostname', false]])
  const hostname = report.steps[4]
  t.equal(hostname?.detail, 'the certificate does not name localhost; it names DNS:example.test, DNS:www.example.test')
  t.equal(hostname?.fix, 'connect with a name the certificate lists (example.test, www.example.test), or issue the server a certificate whose subjectAltName includes localhost')
  t.match(report.steps[3]?.detail, `issued by doctor test CA, trusted by --ca ${caFile}`)
})

t.test('the development certificate reached by an address it does not list (127.0.0.2): the real command', async (t) => {
  const certificates = await testCertificates()
  const port = await tlsServer(t, { cert: certificates.cert, key: certificates.key }, '127.0.0.2')
  const run = await runCli(['doctor', '--ca', certificates.caPath, '--timeout', '3000', `wss://127.0.0.2:${port}/ws/echo`])
  t.equal(run.code, 1)
  t.match(run.stdout, /^✓ dns +127\.0\.0\.2 is an address \(no lookup\)$/m)
  t.match(run.stdout, /^✗ hostname +the certificate does not name 127\.0\.0\.2; it names DNS:localhost, IP:127\.0\.0\.1, IP:::1$/m)
  t.match(run.stdout, /^ {2}fix: connect with a name the certificate lists \(localhost, 127\.0\.0\.1, ::1\), or issue the server a certificate whose subjectAltName includes 127\.0\.0\.2 \(a development certificate: `npx fastify-tether cert --hosts 127\.0\.0\.2` in the server's directory re-issues it under the same CA with that name too\)$/m)
  t.notMatch(run.stdout, INSECURE_ADVICE)
})

t.test('an expired certificate: the validity step gives the dates and how to renew', async (t) => {
  const past = new Date(Date.now() - 800 * 86_400_000)
  const dev = await ensureDevCertificates({ dir: join(t.testdir(), 'certs'), now: past })
  const port = await tlsServer(t, { cert: dev.cert, key: dev.key })
  const report = await runDoctor({ url: `wss://localhost:${port}/ws/echo`, caFile: dev.caPath, timeoutMs: 3000 })
  t.same(report.steps.map((step) => [step.step, step.ok]), [['dns', true], ['tcp', true], ['tls', true], ['trust', true], ['hostname', true], ['validity', false]])
  const validity = report.steps[5]
  const expired = new Date(past.getTime() + 397 * 86_400_000).toISOString().slice(0, 10)
  t.match(validity?.detail, new RegExp(`^the server's certificate expired on ${expired}T[\\d:]+Z \\((40[23]) days ago; valid ${new Date(past.getTime() - 86_400_000).toISOString().slice(0, 10)}T[\\d:]+Z to ${expired}T[\\d:]+Z\\)$`))
  t.match(validity?.fix, /restart the development server: it re-issues cert\.pem in its CERT_DIR under the same CA/)
  t.match(report.summary, /^broken at validity: the server's certificate expired on/)
})

t.test('a certificate that is not valid yet', async (t) => {
  const future = new Date(Date.now() + 3 * 86_400_000)
  const dev = await ensureDevCertificates({ dir: join(t.testdir(), 'certs'), now: future })
  const port = await tlsServer(t, { cert: dev.cert, key: dev.key })
  const report = await runDoctor({ url: `wss://localhost:${port}/`, caFile: dev.caPath, timeoutMs: 3000 })
  const last = report.steps.at(-1)
  t.equal(last?.step, 'validity')
  t.equal(last?.ok, false)
  t.match(last?.detail, /is not valid yet: valid from/)
  t.match(last?.fix, /check the clocks/)
})
