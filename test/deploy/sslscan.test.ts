import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { ready, SOURCE_SERVER, spawnServer } from '../process/support.js'
import { program } from './support.js'

// Item 6 of the "Operations" issue: sslscan against the running reference server. Only TLS 1.2 and
// 1.3; only ECDHE key exchange (elliptic-curve groups) with AEAD ciphers (GCM, ChaCha20-Poly1305);
// no insecure renegotiation; no TLS compression. A failure names the offending lines.

const sslscan = program('sslscan')

/** The attributes of every `<name .../>` element of sslscan's XML report. */
function elements (xml: string, name: string): Array<{ line: string, attrs: Record<string, string> }> {
  return [...xml.matchAll(new RegExp(`<${name}\\s[^>]*?/?>`, 'g'))].map(([line]) => ({
    line,
    attrs: Object.fromEntries([...line.matchAll(/([\w-]+)="([^"]*)"/g)].map(([, key, value]) => [key ?? '', value ?? '']))
  }))
}

const AEAD_TLS13 = /^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/
const ECDHE_AEAD_TLS12 = /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/
/** Elliptic-curve groups; anything else offered (ffdhe*) is finite-field Diffie-Hellman. */
const EC_GROUP = /^(x25519|x448|secp(256|384|521)r1)\b/

if (sslscan === undefined) {
  t.plan(0, 'sslscan is not installed (apt-get install sslscan; .ci/run installs it)')
} else {
  t.test('sslscan finds only TLS 1.2/1.3, ECDHE with AEAD ciphers, no insecure renegotiation, no compression', async (t) => {
    const server = spawnServer(t, SOURCE_SERVER)
    const { port } = await ready(server)
    const { stdout: xml } = await promisify(execFile)(sslscan, ['--no-colour', '--xml=-', '--sni-name=localhost', `127.0.0.1:${port}`], { timeout: 60_000 })
    t.match(xml, /<ssltest host="127\.0\.0\.1"/, 'sslscan reached the server')

    const protocols = elements(xml, 'protocol')
    t.equal(protocols.length, 6, 'SSLv2, SSLv3, TLS 1.0, 1.1, 1.2 and 1.3 were probed')
    const enabled = protocols.filter((p) => p.attrs['enabled'] === '1')
    const modern = (p: { attrs: Record<string, string> }): boolean => p.attrs['type'] === 'tls' && ['1.2', '1.3'].includes(p.attrs['version'] ?? '')
    t.same(enabled.filter((p) => !modern(p)).map((p) => p.line), [], 'SSLv2, SSLv3, TLS 1.0 and 1.1 disabled')
    t.equal(enabled.filter(modern).length, 2, 'TLS 1.2 and 1.3 enabled')

    const ciphers = elements(xml, 'cipher')
    t.ok(ciphers.length > 0, 'ciphers were listed')
    const weak = ciphers.filter(({ attrs }) => {
      const name = attrs['cipher'] ?? ''
      const aead = attrs['sslversion'] === 'TLSv1.3' ? AEAD_TLS13.test(name) : ECDHE_AEAD_TLS12.test(name)
      // The key exchange each accepted cipher was tested with: an elliptic curve, never DH bits.
      const ecdhe = attrs['curve'] !== undefined && attrs['dhebits'] === undefined
      return !aead || !ecdhe
    })
    t.same(weak.map((c) => c.line), [], 'every accepted cipher is ECDHE with an AEAD cipher')

    const groups = elements(xml, 'group')
    const finiteField = groups.filter((g) => !EC_GROUP.test(g.attrs['name'] ?? ''))
    t.same(finiteField.map((g) => g.line), [], 'only elliptic-curve key exchange groups are accepted')

    const renegotiation = elements(xml, 'renegotiation')
    t.equal(renegotiation.length, 1, 'renegotiation was probed')
    const insecure = renegotiation.filter((r) => r.attrs['supported'] === '1' && r.attrs['secure'] !== '1')
    t.same(insecure.map((r) => r.line), [], 'no insecure renegotiation')

    const compression = elements(xml, 'compression')
    t.same(compression.filter((c) => c.attrs['supported'] !== '0').map((c) => c.line), [], 'TLS compression disabled')
    // sslscan only probes compression when its OpenSSL was built with zlib (Debian's is not); Node's
    // OpenSSL has no TLS compression either.
    if (compression.length === 0) t.comment('this sslscan cannot probe TLS compression (its OpenSSL has none)')
  })
}
