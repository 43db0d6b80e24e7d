import { setTimeout as delay } from 'node:timers/promises'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import t from 'tap'
import { ConnectionClosedError, type Connection } from 'fastify-tether'
import { build } from '../helper.js'
import { collect, deferred, waitClose } from 'fastify-tether/testing'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by a test hook before the upgrade, read by handlers after it. */
    tag: string
  }
}

t.test('messages sent before the handler reads are buffered, none lost, in order', async (t) => {
  const { connect } = await build(t, {
    routes (app) {
      app.ws('/test/slow-reader', { auth: false }, async (connection) => {
        await delay(200) // the handler is busy elsewhere (a database call) before it reads
        for await (const message of connection.messages()) await connection.send(message)
      })
    }
  })
  const ws = await connect('/test/slow-reader')
  const sent = Array.from({ length: 100 }, (_, i) => `early ${i}`)
  const replies = collect(ws, sent.length)
  for (const message of sent) ws.send(message)
  t.same(await replies, sent)
})

t.test('request.id and request decorators stay valid after the 100th message', async (t) => {
  const hookIds: string[] = []
  const { connect } = await build(t, {
    async routes (app: FastifyInstance) {
      app.decorateRequest('tag', '')
      app.ws('/test/context', {
        auth: false,
        onRequest: async (request: FastifyRequest) => {
          request.tag = `tag-${request.id}`
          hookIds.push(request.id)
        }
      }, async (connection) => {
        let count = 0
        for await (const message of connection.messages()) {
          count++
          if (count === 100) {
            await connection.send(JSON.stringify({ id: connection.request.id, tag: connection.request.tag, last: message }))
            return
          }
        }
      })
    }
  })
  const ws = await connect('/test/context')
  const reply = collect(ws, 1)
  for (let i = 1; i <= 100; i++) ws.send(`m${i}`)
  const [text] = await reply
  t.equal(hookIds.length, 1)
  t.same(JSON.parse(String(text)), { id: hookIds[0], tag: `tag-${hookIds[0]}`, last: 'm100' })
})

t.test('a handler that returns closes the connection with 1000', async (t) => {
  const { connect } = await build(t, {
    routes (app) {
      app.ws('/test/return', { auth: false }, async (connection) => {
        await connection.send('done')
      })
    }
  })
  const ws = await connect('/test/return')
  const closed = waitClose(ws)
  const [message] = await collect(ws, 1)
  t.equal(message, 'done')
  t.same(await closed, { code: 1000, reason: '' })
})

t.test('a handler that throws closes with 1011 and the client sees no error text', async (t) => {
  const { connect, logs } = await build(t, {
    routes (app) {
      app.ws('/test/throw', { auth: false }, async () => {
        throw new Error('secret database password in a stack trace')
      })
    }
  })
  const ws = await connect('/test/throw')
  const received: unknown[] = []
  ws.on('message', (data) => received.push(data))
  const closed = await waitClose(ws)
  t.same(closed, { code: 1011, reason: 'internal error' })
  t.same(received, [], 'no frame carried the error')
  const line = await logs.waitFor((l) => l.msg === 'websocket handler failed', 'the handler error log')
  t.match(line, { err: { message: 'secret database password in a stack trace' } })
  t.type(line['reqId'], 'string', 'the error is logged with the request id')
})

t.test('a client close aborts signal and ends messages()', async (t) => {
  const report = deferred<{ aborted: boolean, iterationEnded: boolean, reason: unknown }>()
  const started = deferred()
  const { connect } = await build(t, {
    routes (app) {
      app.ws('/test/client-close', { auth: false }, async (connection: Connection) => {
        started.resolve()
        for await (const message of connection.messages()) t.type(message, 'string')
        report.resolve({ aborted: connection.signal.aborted, iterationEnded: true, reason: connection.signal.reason })
      })
    }
  })
  const ws = await connect('/test/client-close')
  await started.promise
  ws.close(1000)
  const result = await report.promise
  t.equal(result.aborted, true)
  t.equal(result.iterationEnded, true)
  t.ok(result.reason instanceof ConnectionClosedError)
})

t.test('a dropped client (no close frame) aborts signal too', async (t) => {
  const aborted = deferred<boolean>()
  const started = deferred()
  const { connect } = await build(t, {
    routes (app) {
      app.ws('/test/drop', { auth: false }, async (connection: Connection) => {
        started.resolve()
        const closed = await connection.closed
        aborted.resolve(connection.signal.aborted && closed.code === 1006)
      })
    }
  })
  const ws = await connect('/test/drop')
  await started.promise
  ws.terminate()
  t.equal(await aborted.promise, true)
})

t.test('send() after close rejects with the typed error', async (t) => {
  const result = deferred<unknown>()
  const { connect } = await build(t, {
    routes (app) {
      app.ws('/test/send-after-close', { auth: false }, async (connection: Connection) => {
        await connection.closed
        result.resolve(await connection.send('too late').then(() => 'resolved', (error: unknown) => error))
      })
    }
  })
  const ws = await connect('/test/send-after-close')
  ws.close()
  const error = await result.promise
  t.ok(error instanceof ConnectionClosedError)
  t.match(error, { code: 'TETHER_ERR_CONNECTION_CLOSED' })
})

t.test('close() refuses a reserved close code at once', async (t) => {
  const result = deferred<unknown>()
  const { connect } = await build(t, {
    routes (app) {
      app.ws('/test/bad-close', { auth: false }, async (connection: Connection) => {
        try {
          connection.close(1006)
          result.resolve('no error')
        } catch (error) {
          result.resolve(error)
        }
      })
    }
  })
  const ws = await connect('/test/bad-close')
  const closed = waitClose(ws)
  t.match(await result.promise, { code: 'TETHER_ERR_INVALID_CLOSE_CODE' })
  t.equal((await closed).code, 1000, 'the handler then returned normally')
})
