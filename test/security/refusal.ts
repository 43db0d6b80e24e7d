import type { IncomingMessage } from 'node:http'
import { WebSocket, type ClientOptions } from 'ws'
import { withTimeout } from 'fastify-tether/testing'

/** What a refused upgrade looked like to the client. */
export interface Refusal {
  status: number
  headers: IncomingMessage['headers']
  body: { error: string, message: string }
  /** True if the client ever saw an open socket (it must not). */
  opened: boolean
}

/** Attempts an upgrade that must be refused; resolves with the HTTP answer, rejects if it opens. */
export async function attemptRefused (url: string, options: ClientOptions): Promise<Refusal> {
  const ws = new WebSocket(url, options)
  let opened = false
  ws.on('open', () => { opened = true })
  try {
    const response = await withTimeout(new Promise<IncomingMessage>((resolve, reject) => {
      ws.once('unexpected-response', (_request, res) => resolve(res))
      ws.once('open', () => reject(new Error('the upgrade was accepted')))
      ws.once('error', reject)
    }), 'for the refusal')
    let text = ''
    for await (const chunk of response) text += String(chunk)
    return { status: response.statusCode ?? 0, headers: response.headers, body: JSON.parse(text) as Refusal['body'], opened }
  } finally {
    ws.terminate()
  }
}
