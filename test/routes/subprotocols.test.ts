import type { IncomingMessage } from 'node:http'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { deferred, tetherTest, withTimeout, type TestServer } from 'fastify-tether/testing'

// The server selects a subprotocol only from the route's `protocols`, in the route's order of
// preference (or `tether`, offered next to a ticket); never one the route did not declare.

async function chat (t: Test, onOpen?: (protocol: string) => void): Promise<TestServer> {
  return await tetherTest(t, {
    routes (app) {
      app.ws('/chat', { auth: false, protocols: ['chat.v2', 'chat.v1'] }, async (connection) => {
        onOpen?.(connection.request.raw.headers['sec-websocket-protocol'] ?? '')
        for await (const message of connection.messages()) await connection.send(message)
      })
    }
  })
}

/** What the client saw of an upgrade whose answer it may reject: the 101's protocol header and the client's error. */
async function handshake (server: TestServer, path: string, protocols: string[]): Promise<{ status: number, protocol: string | undefined, error: string }> {
  const ws = new WebSocket(`${server.wsUrl}${path}`, protocols, { ca: server.ca })
  try {
    return await withTimeout(new Promise((resolve) => {
      let response: IncomingMessage | undefined
      ws.once('upgrade', (res) => { response = res })
      ws.once('error', (error) => resolve({ status: response?.statusCode ?? 0, protocol: response?.headers['sec-websocket-protocol'], error: error.message }))
      ws.once('open', () => resolve({ status: response?.statusCode ?? 0, protocol: response?.headers['sec-websocket-protocol'], error: '' }))
    }), 'for the handshake')
  } finally {
    ws.terminate()
  }
}

t.test('the client offers chat.v1 then chat.v2: the server selects chat.v2, its own preference', async (t) => {
  const server = await chat(t)
  const client = await server.connect('/chat', { protocols: ['chat.v1', 'chat.v2'] })
  t.equal(client.protocol, 'chat.v2')
})

t.test('the client offers only chat.v1: the server selects chat.v1', async (t) => {
  const server = await chat(t)
  const client = await server.connect('/chat', { protocols: ['chat.v1'] })
  t.equal(client.protocol, 'chat.v1')
})

t.test('the client offers only a protocol the route does not declare: the 101 selects none, and the ws client fails the handshake', async (t) => {
  // RFC 6455 section 4.1: a client that offered subprotocols fails the connection when the server
  // selects none of them; ws does (as browsers do), so the observable result is a client error
  // after a 101 that carries no Sec-WebSocket-Protocol, never a selected 'evil'.
  const server = await chat(t)
  const seen = await handshake(server, '/chat', ['evil'])
  t.equal(seen.status, 101)
  t.equal(seen.protocol, undefined, 'no protocol selected')
  t.equal(seen.error, 'Server sent no subprotocol')
})

t.test('a client that offers no protocol opens with none selected', async (t) => {
  const server = await chat(t)
  const client = await server.connect('/chat')
  t.equal(client.protocol, '')
})

t.test('a route without protocols never selects one the client offers', async (t) => {
  const server = await tetherTest(t, {
    routes (app) {
      app.ws('/plain', { auth: false }, async () => {})
    }
  })
  const seen = await handshake(server, '/plain', ['chat.v1'])
  t.same([seen.status, seen.protocol, seen.error], [101, undefined, 'Server sent no subprotocol'])
})

t.test('the handler sees the offer as the client made it (tickets aside)', async (t) => {
  const offered = deferred<string>()
  const server = await chat(t, offered.resolve)
  await server.connect('/chat', { protocols: ['chat.v1', 'chat.v2'] })
  t.equal(await offered.promise, 'chat.v1,chat.v2')
})
