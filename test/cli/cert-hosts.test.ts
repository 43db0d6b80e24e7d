import { X509Certificate } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { ensureDevCertificates, parseDevCertHost } from 'fastify-tether/dev-certs'

t.test('parseDevCertHost accepts host names and IP addresses, canonical, and says why it refuses the rest', async (t) => {
  t.same(parseDevCertHost('192.168.1.20'), { type: 'ip', value: '192.168.1.20' })
  t.same(parseDevCertHost('Dev.Local'), { type: 'dns', value: 'dev.local' })
  t.same(parseDevCertHost('my-laptop'), { type: 'dns', value: 'my-laptop' })
  t.same(parseDevCertHost('FE80:0:0::1'), { type: 'ip', value: 'fe80::1' })
  t.same(parseDevCertHost('[::1]'), { type: 'ip', value: '::1' })
  t.throws(() => parseDevCertHost('192.168.1.300'), { name: 'TypeError', message: /neither an IP address nor a valid host name/ })
  t.throws(() => parseDevCertHost('-dev.local'), /neither/)
  t.throws(() => parseDevCertHost('a..b'), /neither/)
  t.throws(() => parseDevCertHost(`${'a'.repeat(64)}.local`), /neither/)
  t.throws(() => parseDevCertHost('fe80::1%eth0'), /zone id/)
  t.throws(() => parseDevCertHost('wss://dev.local/ws'), /is a URL/)
  t.throws(() => parseDevCertHost('*.dev.local'), /wildcards/)
  t.throws(() => parseDevCertHost(''), /empty/)
})

t.test('ensureDevCertificates hosts: extra SANs under the same CA, saved in hosts.json for later calls', async (t) => {
  const dir = t.testdir()
  const first = await ensureDevCertificates({ dir })
  t.same(first.hosts, ['localhost', '127.0.0.1', '::1'])
  const extra = await ensureDevCertificates({ dir, hosts: ['192.168.1.20', 'dev.local', 'localhost', '0:0:0:0:0:0:0:1', 'DEV.local'] })
  t.equal(extra.createdCa, false)
  t.equal(extra.issuedCert, true)
  t.equal(extra.ca, first.ca, 'the same CA')
  t.same(extra.hosts, ['localhost', '127.0.0.1', '::1', '192.168.1.20', 'dev.local'], 'duplicates and the fixed names dropped')
  t.equal(new X509Certificate(extra.cert).subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:192.168.1.20, DNS:dev.local')
  t.same(JSON.parse(await readFile(extra.hostsPath, 'utf8')), { hosts: ['192.168.1.20', 'dev.local'] })

  const later = await ensureDevCertificates({ dir })
  t.equal(later.issuedCert, false, 'a call without hosts reads hosts.json and keeps the certificate')
  t.same(later.hosts, extra.hosts)

  const reordered = await ensureDevCertificates({ dir, hosts: ['dev.local', '192.168.1.20'] })
  t.equal(reordered.issuedCert, false, 'the same names in another order change nothing')

  const fewer = await ensureDevCertificates({ dir, hosts: ['dev.local'] })
  t.equal(fewer.issuedCert, true, 'a name no longer listed is dropped')
  t.equal(new X509Certificate(fewer.cert).checkIP('192.168.1.20'), undefined)
  t.equal(fewer.ca, first.ca)
})

t.test('a hand-edited hosts.json is honoured; a broken one is an error naming the file', async (t) => {
  const dir = t.testdir()
  await ensureDevCertificates({ dir })
  const hostsPath = join(dir, 'hosts.json')
  await writeFile(hostsPath, '{"hosts": ["10.0.0.5"]}')
  const edited = await ensureDevCertificates({ dir })
  t.equal(edited.issuedCert, true)
  t.equal(new X509Certificate(edited.cert).checkIP('10.0.0.5'), '10.0.0.5')
  await writeFile(hostsPath, '{"hosts": ["10.0.0.500"]}')
  await t.rejects(ensureDevCertificates({ dir }), { message: /hosts\.json: "10\.0\.0\.500" is neither/ })
  await writeFile(hostsPath, 'not json')
  await t.rejects(ensureDevCertificates({ dir }), { message: /hosts\.json is not JSON/ })
  await t.rejects(ensureDevCertificates({ dir, hosts: ['bad_name'] }), { name: 'TypeError' }, 'a bad option throws before touching the folder')
  t.equal(await readFile(hostsPath, 'utf8'), 'not json')
})
