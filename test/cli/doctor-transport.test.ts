import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { testCertificates } from 'fastify-tether/testing'
import { runDoctor } from '../../src/cli/doctor.js'
import { httpServer, httpsServer, runCli, tlsServer } from '../fixtures/doctor.js'

// Below the WebSocket: the name, the port, the TLS versions, and what answers on the port.

t.test('a server that offers only TLS 1.1: the tls step says so and how to fix the server', async (t) => {
  const certificates = await testCertificates()
  const port = await tlsServer(t, { cert: certificates.cert, key: certificates.key, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })
  const report = await runDoctor({ url: `wss://localhost:${port}/ws/echo`, caFile: certificates.caPath, timeoutMs: 3000 })
  t.same(report.steps.map((step) => [step.step, step.ok]), [['dns', true], ['tcp', true], ['tls', false]])
  const tls = report.steps[2]
  t.match(tls?.detail, /^the server offers only TLSv1\.1 \(it negotiated \S+ with a legacy probe\); this client requires TLS 1\.2 or later$/)
  t.match(tls?.fix, /TLSv1\.1 is deprecated \(RFC 8996\) and refused by Node, browsers and curl: configure the server for TLS 1\.2 and 1\.3/)
})

t.test('wss:// to a plain-HTTP port: "this port speaks plain HTTP"', async (t) => {
  const port = await httpServer(t, (_request, response) => response.end('hello'))
  const run = await runCli(['doctor', '--timeout', '3000', `wss://127.0.0.1:${port}/ws/echo`])
  t.equal(run.code, 1)
  t.match(run.stdout, /^✗ tls +the TLS handshake failed \(.+\) and the port answers plain HTTP$/m)
  t.match(run.stdout, new RegExp(`^ {2}fix: this port speaks plain HTTP: use ws://127\\.0\\.0\\.1:${port} \\(plain, for loopback or behind a TLS proxy only\\) or the server's TLS port with wss://$`, 'm'))
})

t.test('ws:// to a TLS port: "this port speaks TLS"', async (t) => {
  const certificates = await testCertificates()
  const port = await httpsServer(t, certificates, (_request, response) => response.end('hello'))
  const report = await runDoctor({ url: `ws://localhost:${port}/ws/echo`, timeoutMs: 3000 })
  const last = report.steps.at(-1)
  t.equal(last?.step, 'upgrade')
  t.equal(last?.fix, `this port speaks TLS: use wss://localhost:${port}/ws/echo`)
})

t.test('an HTTPS server that answers the upgrade with 200: a proxy that dropped the Upgrade header', async (t) => {
  const certificates = await testCertificates()
  const port = await httpsServer(t, certificates, (_request, response) => {
    response.setHeader('content-type', 'text/html')
    response.end('<html>welcome</html>')
  })
  const report = await runDoctor({ url: `wss://localhost:${port}/ws/echo`, caFile: certificates.caPath, timeoutMs: 3000 })
  t.same(report.steps.map((step) => [step.step, step.ok]), [['dns', true], ['tcp', true], ['tls', true], ['trust', true], ['hostname', true], ['validity', true], ['upgrade', false]])
  const upgrade = report.steps[6]
  t.equal(upgrade?.detail, 'the upgrade was refused: HTTP 200')
  t.match(upgrade?.fix, /^something between you and the server dropped the Upgrade header \(a proxy without WebSocket support\)/)
})

t.test('a port nobody listens on: the tcp step', async (t) => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  const report = await runDoctor({ url: `wss://127.0.0.1:${port}/`, timeoutMs: 3000 })
  t.same(report.steps.map((step) => [step.step, step.ok]), [['dns', true], ['tcp', false]])
  t.equal(report.steps[1]?.detail, `nothing accepts connections on 127.0.0.1:${port} (127.0.0.1: ECONNREFUSED)`)
  t.match(report.steps[1]?.fix, /^start the server, or check the port/)
})

t.test('a name that does not resolve: the dns step', async (t) => {
  const report = await runDoctor({ url: 'wss://doctor-test.invalid/ws/echo', timeoutMs: 3000 })
  t.same(report.steps.map((step) => [step.step, step.ok]), [['dns', false]])
  t.match(report.steps[0]?.detail, /^(doctor-test\.invalid does not resolve \(ENOTFOUND\)|looking up doctor-test\.invalid failed)/)
})
