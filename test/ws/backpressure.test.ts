import t from 'tap'
import type { Connection } from 'fastify-tether'
import { build } from '../helper.js'
import { collect, deferred } from 'fastify-tether/testing'

const PENDING = Symbol('pending')
const CHUNK = Buffer.alloc(16_384, 7)
const TOTAL = 2_000 // 32 MiB in all: far more than the kernel and TLS buffers of one socket hold
const PAST_FIRST_MIB = 1_048_576 / CHUNK.length

t.test('a client that stops reading makes send() wait instead of growing memory', async (t) => {
  const stalled = deferred<{ sent: number }>()
  const finished = deferred<{ maxBufferedBytes: number, messagesOut: number }>()
  const highWater = 65_536
  const { connect } = await build(t, {
    tether: { sendHighWaterBytes: highWater },
    routes (app) {
      app.ws('/test/firehose', { auth: false }, async (connection: Connection) => {
        let maxBufferedBytes = 0
        for (let sent = 1; sent <= TOTAL; sent++) {
          const write = connection.send(CHUNK)
          maxBufferedBytes = Math.max(maxBufferedBytes, connection.bufferedBytes)
          // A pending promise loses this race to the marker: send() is waiting for the socket to drain.
          if (sent > PAST_FIRST_MIB && await Promise.race([write, PENDING]) === PENDING) stalled.resolve({ sent })
          await write
        }
        finished.resolve({ maxBufferedBytes, messagesOut: connection.stats.messagesOut })
        await connection.closed
      })
    }
  })
  const ws = await connect('/test/firehose')
  ws.pause() // stop reading: the server's writes back up through TCP and TLS
  const { sent } = await stalled.promise
  t.ok(sent < TOTAL, `send() was waiting after ${sent} of ${TOTAL} messages while the client read nothing`)
  const all = collect(ws, TOTAL, 20_000)
  ws.resume()
  t.equal((await all).length, TOTAL, 'every message arrives once the client reads again')
  const result = await finished.promise
  t.equal(result.messagesOut, TOTAL)
  t.ok(result.maxBufferedBytes <= highWater + CHUNK.length * 2,
    `user-space buffer peaked at ${result.maxBufferedBytes} bytes: bounded by the ${highWater}-byte high-water mark, not by the 32 MiB sent`)
})

t.test('past receiveHighWaterBytes unread bytes the socket pauses, and resumes without losing a message', async (t) => {
  const release = deferred()
  const ready = deferred()
  const count = 300
  const { connect } = await build(t, {
    // Only the byte mark can pause here: 16 KiB is four of these 4 KiB messages.
    tether: { receiveHighWaterBytes: 16_384, receiveHighWaterMessages: 100_000, messageRatePerSec: 0 },
    routes (app) {
      app.ws('/test/late-reader', { auth: false }, async (connection: Connection) => {
        ready.resolve()
        await release.promise
        let received = 0
        for await (const message of connection.messages()) {
          if (Buffer.isBuffer(message) && message[0] === received % 256) received++
          if (received === count) break
        }
        await connection.send(`received ${received} in order`)
      })
    }
  })
  const ws = await connect('/test/late-reader')
  await ready.promise
  for (let i = 0; i < count; i++) ws.send(Buffer.alloc(4096, i % 256))
  release.resolve()
  t.same(await collect(ws, 1, 10_000), [`received ${count} in order`])
})
