import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import t from 'tap'
import { TestClient, waitOpen } from 'fastify-tether/testing'
import { WebSocket } from 'ws'
import { alive, ready, SOURCE_SERVER, spawnServer } from '../process/support.js'
import { certificateKit, servedSerial } from './certs.js'

// Item 4 of the "Operations" issue, in the real process: server/main.ts with TLS_CERT/TLS_KEY, the
// file watch off (TLS_WATCH=off) so that only SIGHUP can have reloaded; 20 clients stay connected.

const CLIENTS = 20

t.test('SIGHUP reloads TLS_CERT/TLS_KEY under 20 open clients; a bad pair is refused and the old one keeps serving', async (t) => {
  const kit = await certificateKit(t)
  const [a, b] = [await kit.leaf(), await kit.leaf()]
  await kit.install(a)
  const server = spawnServer(t, SOURCE_SERVER, { TLS_CERT: join(kit.live, 'cert.pem'), TLS_KEY: join(kit.live, 'key.pem'), TLS_WATCH: 'off' })
  await writeFile(join(server.certDir, 'ca.pem'), kit.ca) // what ready() hands back as the CA to trust
  const { port, ca, pid } = await ready(server)
  t.equal(await servedSerial(port, ca), a.serial, 'serving A')

  const clients = await Promise.all(Array.from({ length: CLIENTS }, async () => {
    const ws = new WebSocket(`wss://localhost:${port}/ws/echo`, { ca })
    t.teardown(() => ws.terminate())
    let socket: TLSSocket | undefined
    ws.once('upgrade', (response) => { socket = response.socket as TLSSocket })
    const client = new TestClient(ws)
    await waitOpen(ws)
    return { client, socket: socket as unknown as TLSSocket }
  }))
  const echoAll = async (round: string): Promise<void> => {
    for (const [i, { client }] of clients.entries()) client.send(`${round}-${i}`)
    const answers = await Promise.all(clients.map(async ({ client }) => await client.next()))
    t.same(answers, clients.map((_c, i) => `${round}-${i}`), `all ${CLIENTS} clients echo (${round})`)
  }
  await echoAll('before')

  await kit.install(b)
  t.equal(await servedSerial(port, ca), a.serial, 'with the watch off, new files alone change nothing')
  server.child.kill('SIGHUP')
  const loaded = await server.logs.waitFor((l) => l['trigger'] === 'SIGHUP' && l['serialNumber'] === b.serial, 'the SIGHUP reload')
  t.match(loaded, { msg: /certificate loaded/, level: 30, subjectAltName: /DNS:localhost/ })
  t.comment(`SIGHUP reload in the server process took ${String(loaded['durationMs'])} ms`)
  t.equal(await servedSerial(port, ca), b.serial, 'a new handshake sees B')
  t.ok(clients.every(({ client }) => client.ws.readyState === WebSocket.OPEN), 'every client is still open')
  t.ok(clients.every(({ socket }) => socket.getPeerCertificate().serialNumber.toUpperCase() === a.serial), 'on the sessions made with A')
  await echoAll('after')

  await kit.install({ cert: b.cert, key: a.key })
  server.child.kill('SIGHUP')
  const refused = await server.logs.waitFor((l) => l['trigger'] === 'SIGHUP' && l.level === 50, 'the refusal')
  t.match(refused, { msg: /refused; the previous certificate keeps serving/, err: { message: /private key does not match/ }, servingSerialNumber: b.serial })
  t.equal(await servedSerial(port, ca), b.serial, 'still serving B')
  await echoAll('after the bad pair')
  t.ok(alive(pid), 'still running')

  server.child.kill('SIGINT')
  t.equal(await server.exited, 0, 'SIGINT still shuts down, exit 0')
})
