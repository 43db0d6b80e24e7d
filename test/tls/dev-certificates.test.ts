import { X509Certificate } from 'node:crypto'
import { stat, writeFile } from 'node:fs/promises'
import t from 'tap'
import { ensureDevCertificates } from 'fastify-tether/dev-certs'

const DAY_MS = 86_400_000

t.test('the dev CA signs an ECDSA P-256 server certificate for localhost, 127.0.0.1 and ::1', async (t) => {
  const dir = t.testdir()
  const dev = await ensureDevCertificates({ dir })
  t.equal(dev.createdCa, true)
  t.equal(dev.issuedCert, true)
  const ca = new X509Certificate(dev.ca)
  const cert = new X509Certificate(dev.cert)
  t.equal(ca.ca, true, 'the CA is a CA')
  t.equal(cert.ca, false, 'the server certificate is not')
  t.equal(cert.checkIssued(ca), true, 'issued by the CA')
  t.equal(cert.verify(ca.publicKey), true, 'signed by the CA key')
  t.equal(cert.publicKey.asymmetricKeyType, 'ec')
  t.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
  t.equal(cert.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1')
  t.equal(cert.checkHost('localhost'), 'localhost')
  t.equal(cert.checkIP('::1'), '::1')
  t.equal(cert.checkHost('example.com'), undefined)
  t.ok(new Date(cert.validTo).getTime() - Date.now() <= 398 * DAY_MS, 'within the browsers\' 398-day limit')
})

t.test('private keys are written with mode 0600', async (t) => {
  const dir = t.testdir()
  const dev = await ensureDevCertificates({ dir })
  t.equal((await stat(dev.caKeyPath)).mode & 0o777, 0o600)
  t.equal((await stat(dev.keyPath)).mode & 0o777, 0o600)
})

t.test('a second start reuses the CA and the server certificate', async (t) => {
  const dir = t.testdir()
  const first = await ensureDevCertificates({ dir })
  const second = await ensureDevCertificates({ dir })
  t.equal(second.createdCa, false)
  t.equal(second.issuedCert, false)
  t.equal(second.ca, first.ca)
  t.equal(second.cert, first.cert)
  t.equal(second.key, first.key)
})

t.test('a server certificate expiring within 7 days is renewed under the same CA', async (t) => {
  const dir = t.testdir()
  const first = await ensureDevCertificates({ dir })
  const expiry = new Date(new X509Certificate(first.cert).validTo).getTime()
  const notYet = await ensureDevCertificates({ dir, now: new Date(expiry - 8 * DAY_MS) })
  t.equal(notYet.issuedCert, false, 'a certificate with 8 days left is kept')
  const later = await ensureDevCertificates({ dir, now: new Date(expiry - 6 * DAY_MS) })
  t.equal(later.createdCa, false, 'the CA clients already trust is kept')
  t.equal(later.issuedCert, true)
  t.not(later.cert, first.cert)
  t.equal(new X509Certificate(later.cert).checkIssued(new X509Certificate(first.ca)), true)
})

t.test('a corrupt server certificate is replaced, not trusted', async (t) => {
  const dir = t.testdir()
  const first = await ensureDevCertificates({ dir })
  await writeFile(first.certPath, 'not a certificate')
  const again = await ensureDevCertificates({ dir })
  t.equal(again.issuedCert, true)
  t.equal(again.createdCa, false)
})
