// ws-internals first, before anything loads ws's CommonJS entry: its shims must not depend on
// module load order (ws's ESM entry does not set WebSocket.Sender).
import { frameMessage, messageInProgress, protocolCloseCode, upgradeStreamOf, type UpgradeStream } from '../../src/internal/ws-internals.js'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import type { Writable } from 'node:stream'
import fastifyWebsocket from '@fastify/websocket'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import * as wsModule from 'ws'
import { WebSocket, WebSocketServer } from 'ws'
import { deferred, waitEvent, withTimeout } from 'fastify-tether/testing'

// Pins every shim of src/internal/ws-internals.ts to the installed ws and @fastify/websocket: when
// an upgrade changes an internal a shim relies on, the assertion that fails names the versions.

const require = createRequire(import.meta.url)
const wsVersion = (require('ws/package.json') as { version: string }).version
const fastifyWebsocketVersion = (require('@fastify/websocket/package.json') as { version: string }).version
const wsOfFastifyWebsocket = (createRequire(require.resolve('@fastify/websocket'))('ws/package.json') as { version: string }).version
const VERSIONS = `[ws ${wsVersion}, @fastify/websocket ${fastifyWebsocketVersion} with ws ${wsOfFastifyWebsocket}]`

t.comment(`installed: ${VERSIONS}`)

const TEXT = 0x1
const BINARY = 0x2

/** An unmasked frame built by hand per RFC 6455 section 5.2: FIN, opcode, length, payload. */
function rfcFrame (opcode: number, payload: Buffer): Buffer {
  let header: Buffer
  if (payload.length < 126) {
    header = Buffer.from([0x80 | opcode, payload.length])
  } else if (payload.length < 65_536) {
    header = Buffer.alloc(4)
    header[0] = 0x80 | opcode
    header[1] = 126
    header.writeUInt16BE(payload.length, 2)
  } else {
    header = Buffer.alloc(10)
    header[0] = 0x80 | opcode
    header[1] = 127
    header.writeBigUInt64BE(BigInt(payload.length), 2)
  }
  return Buffer.concat([header, payload])
}

/** A client frame (masked, with the all-zero key so the payload reads as is). */
function maskedFrame (opcode: number, payload: Buffer, { fin = true, rsv2 = false } = {}): Buffer {
  if (payload.length > 125) throw new RangeError('short frames only')
  const first = (fin ? 0x80 : 0) | (rsv2 ? 0x20 : 0) | opcode
  return Buffer.concat([Buffer.from([first, 0x80 | payload.length, 0, 0, 0, 0]), payload])
}

const SIZES = [0, 5, 125, 126, 200, 65_535, 65_536, 70_000]

for (const binary of [false, true]) {
  t.test(`frameMessage frames ${binary ? 'binary' : 'text'} payloads as RFC 6455 says, at every length encoding`, async (t) => {
    for (const size of SIZES) {
      const payload = randomBytes(size)
      const framed = Buffer.concat(frameMessage(payload, binary))
      t.ok(framed.equals(rfcFrame(binary ? BINARY : TEXT, payload)), `${size} bytes: FIN, opcode, length, unmasked payload ${VERSIONS}`)
    }
  })
}

t.test('frameMessage does not copy the payload: the parts are the header and the payload buffer itself', async (t) => {
  for (const size of [1, 5, 70_000]) {
    const payload = randomBytes(size)
    const parts = frameMessage(payload, true)
    t.equal(parts.length, 2, `${size} bytes: header and payload ${VERSIONS}`)
    t.equal(parts[1], payload, `${size} bytes: the same Buffer ${VERSIONS}`)
  }
})

t.test('frameMessage of an empty payload is the header alone', async (t) => {
  const parts = frameMessage(Buffer.alloc(0), false)
  t.equal(parts.length, 1, `one part ${VERSIONS}`)
  t.same(parts[0], Buffer.from([0x81, 0x00]), `FIN+text, length 0 ${VERSIONS}`)
})

/** The bytes a real ws server writes for `send()`s, read by a raw client after its handshake. */
async function bytesOfRealSends (messages: Array<{ data: Buffer | string, binary: boolean }>, expectedBytes: number): Promise<Buffer> {
  const http = createServer()
  const wss = new WebSocketServer({ server: http })
  wss.on('connection', (ws) => { for (const { data, binary } of messages) ws.send(data, { binary }) })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  const socket: Socket = connect((http.address() as AddressInfo).port, '127.0.0.1')
  try {
    const key = randomBytes(16).toString('base64')
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`)
    return await withTimeout(new Promise<Buffer>((resolve, reject) => {
      let received = Buffer.alloc(0)
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk])
        const end = received.indexOf('\r\n\r\n')
        if (end === -1) return
        if (!received.subarray(0, end).toString().startsWith('HTTP/1.1 101')) reject(new Error(`no 101: ${received.subarray(0, end).toString()}`))
        const frames = received.subarray(end + 4)
        if (frames.length >= expectedBytes) resolve(frames)
      })
      socket.on('error', reject)
    }), 'for the frames of a real ws server')
  } finally {
    socket.destroy()
    for (const client of wss.clients) client.terminate()
    wss.close()
    http.close()
  }
}

t.test('frameMessage equals the frames a real ws server writes for the same sends', async (t) => {
  const text = 'héllo, wörld'
  const big = randomBytes(70_000)
  const small = randomBytes(200)
  const expected = Buffer.concat([
    ...frameMessage(Buffer.from(text), false),
    ...frameMessage(big, true),
    ...frameMessage(small, true)
  ])
  const written = await bytesOfRealSends([
    { data: text, binary: false },
    { data: big, binary: true },
    { data: small, binary: true }
  ], expected.length)
  t.equal(written.length, expected.length, `as many bytes ${VERSIONS}`)
  t.ok(written.equals(expected), `the same bytes ${VERSIONS}`)
})

t.test('frameMessage works in a process where ws-internals is the first module to load ws', async (t) => {
  const module = fileURLToPath(new URL('../../src/internal/ws-internals.ts', import.meta.url))
  const script = `import { frameMessage } from ${JSON.stringify(module)}; process.stdout.write(Buffer.concat(frameMessage(Buffer.from('hi'), false)).toString('hex'))`
  const stdout = await withTimeout(new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--conditions=tether-source', '--import=tsx', '--input-type=module', '-e', script], { timeout: 20_000 }, (error, out, err) => {
      if (error !== null) reject(new Error(`${error.message}\n${err}`))
      else resolve(out)
    })
  }), 'for the child process', 25_000)
  t.equal(stdout, '81026869', `FIN+text, length 2, "hi" ${VERSIONS}`)
})

/** ws's Receiver (exported by ws, missing from @types/ws). */
type ReceiverClass = new (options: { isServer?: boolean, maxPayload?: number, maxFragments?: number }) => Writable
const { Receiver } = wsModule as unknown as { Receiver: ReceiverClass }

/** The error a real ws Receiver raises on `bytes`. */
async function receiverError (options: ConstructorParameters<ReceiverClass>[0], bytes: Buffer): Promise<Error> {
  const receiver = new Receiver(options)
  const failed = deferred<Error>()
  receiver.on('error', failed.resolve)
  receiver.write(bytes)
  return await withTimeout(failed.promise, 'for the receiver to fail')
}

const BAD_FRAMES: Array<{ name: string, options: ConstructorParameters<ReceiverClass>[0], bytes: Buffer, code: number }> = [
  { name: 'an unmasked client frame', options: { isServer: true }, bytes: rfcFrame(TEXT, Buffer.from('hi')), code: 1002 },
  { name: 'RSV2 set without an extension', options: { isServer: true }, bytes: maskedFrame(TEXT, Buffer.from('hi'), { rsv2: true }), code: 1002 },
  { name: 'a payload over maxPayload', options: { isServer: true, maxPayload: 4 }, bytes: maskedFrame(BINARY, Buffer.alloc(10)), code: 1009 },
  { name: 'invalid UTF-8 in a text frame', options: { isServer: true }, bytes: maskedFrame(TEXT, Buffer.from([0x68, 0xc3, 0x28])), code: 1007 },
  {
    name: 'more fragments than maxFragments',
    options: { isServer: true, maxFragments: 2 },
    bytes: Buffer.concat([maskedFrame(BINARY, Buffer.from([1]), { fin: false }), maskedFrame(0x0, Buffer.from([2]), { fin: false }), maskedFrame(0x0, Buffer.from([3]))]),
    code: 1008
  }
]

for (const bad of BAD_FRAMES) {
  t.test(`protocolCloseCode reads ${bad.code} from a real ws Receiver's error on ${bad.name}`, async (t) => {
    const error = await receiverError(bad.options, bad.bytes)
    t.equal(protocolCloseCode(error), bad.code, `${error.message} ${VERSIONS}`)
  })
}

t.test('protocolCloseCode is undefined for an error ws did not raise', async (t) => {
  t.equal(protocolCloseCode(new Error('plain')), undefined)
  const other = Object.assign(new Error('other'), { [Symbol('status-code')]: 'not a number' })
  t.equal(protocolCloseCode(other), undefined, 'a non-numeric value under the description is ignored')
})

interface Probe { url: string, port: number, captured: Promise<{ stream: UpgradeStream | undefined, raw: IncomingMessage }> }

/** A plain-HTTP Fastify app with @fastify/websocket whose route records what upgradeStreamOf finds. */
async function probeApp (t: Test): Promise<Probe> {
  const app = Fastify()
  await app.register(fastifyWebsocket)
  const captured = deferred<{ stream: UpgradeStream | undefined, raw: IncomingMessage }>()
  app.get('/probe', {
    websocket: true,
    onRequest: async (request) => { captured.resolve({ stream: upgradeStreamOf(request.raw), raw: request.raw }) }
  }, (socket) => { socket.close() })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  return { url: `127.0.0.1:${port}/probe`, port, captured: captured.promise }
}

t.test('upgradeStreamOf finds the socket @fastify/websocket dispatched with a real upgrade', async (t) => {
  const probe = await probeApp(t)
  const ws = new WebSocket(`ws://${probe.url}`)
  const closed = waitEvent(ws, 'close') // the route closes it once open
  const { stream, raw } = await withTimeout(probe.captured, 'for the upgrade to reach the route')
  t.ok(stream !== undefined, `found under @fastify/websocket's ws-socket symbol ${VERSIONS}`)
  t.equal(stream?.socket, raw.socket, `the upgrade's own socket ${VERSIONS}`)
  t.ok(Buffer.isBuffer(stream?.head), `a head Buffer ${VERSIONS}`)
  const descriptions = Object.getOwnPropertySymbols(raw).map((symbol) => symbol.description)
  t.ok(descriptions.includes('ws-socket') && descriptions.includes('ws-head'), `@fastify/websocket still names its symbols ws-socket and ws-head ${VERSIONS}`)
  t.equal((await closed)[0], 1005, 'the upgrade completed and the route closed it')
})

t.test('upgradeStreamOf returns the head: bytes that arrived with the upgrade request', async (t) => {
  const probe = await probeApp(t)
  const socket = connect(probe.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  const early = maskedFrame(TEXT, Buffer.from('early'))
  const request = `GET /probe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`
  socket.write(Buffer.concat([Buffer.from(request), early]))
  const { stream } = await withTimeout(probe.captured, 'for the upgrade to reach the route')
  t.ok(stream?.head.equals(early), `the head holds the early frame ${VERSIONS}`)
})

t.test('upgradeStreamOf is undefined for a plain request', async (t) => {
  const probe = await probeApp(t)
  const response = await withTimeout(fetch(`http://${probe.url}`), 'for the plain GET')
  await response.arrayBuffer()
  const { stream } = await withTimeout(probe.captured, 'for the GET to reach the route')
  t.equal(stream, undefined, `no upgrade stream on a plain GET ${VERSIONS}`)
})

t.test('messageInProgress follows a real ws Receiver through partial frames and fragments', async (t) => {
  const receiver = new Receiver({ isServer: true })
  receiver.on('message', () => {})
  const ws = { _receiver: receiver } as unknown as WebSocket
  const step = (bytes: Buffer): boolean => { receiver.write(bytes); return messageInProgress(ws) }
  t.equal(messageInProgress(ws), false, `idle ${VERSIONS}`)
  const whole = maskedFrame(TEXT, Buffer.from('hello'))
  t.equal(step(whole.subarray(0, 3)), true, `part of a frame buffered ${VERSIONS}`)
  t.equal(step(whole.subarray(3)), false, `the frame completed ${VERSIONS}`)
  t.equal(step(maskedFrame(BINARY, Buffer.from([1]), { fin: false })), true, `a first fragment ${VERSIONS}`)
  t.equal(step(maskedFrame(0x0, Buffer.from([2]), { fin: false })), true, `a middle fragment ${VERSIONS}`)
  t.equal(step(maskedFrame(0x0, Buffer.from([3]))), false, `the last fragment ${VERSIONS}`)
})

t.test('a server-side ws WebSocket keeps its Receiver as _receiver', async (t) => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  t.teardown(() => { wss.close() })
  await waitEvent(wss, 'listening')
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`)
  client.on('error', () => {}) // the server ends it below
  t.teardown(() => { client.terminate() })
  const [[server]] = await Promise.all([waitEvent(wss, 'connection') as Promise<[WebSocket]>, waitEvent(client, 'open')])
  t.ok((server as unknown as { _receiver: unknown })._receiver instanceof Receiver, `_receiver ${VERSIONS}`)
  t.equal(messageInProgress(server), false)
  server.terminate()
})
