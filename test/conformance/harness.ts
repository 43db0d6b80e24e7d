import type { Test } from 'tap'
import { build, type Built, type BuildOverrides } from '../helper.js'
import { Opcode, openRaw, type Frame, type RawClient } from './raw-client.js'

/**
 * A reference server shared by many cases (a build per case would cost more than the cases). The
 * handshake budget is off so that hundreds of upgrades from 127.0.0.1 are never refused.
 */
export async function sharedServer (t: Test, overrides: BuildOverrides = {}): Promise<Built> {
  return await build(t, { ...overrides, tether: { handshakeRatePerMin: 0, ...overrides.tether } })
}

/** A raw connection to the public echo route. */
export function openEcho (t: Test, server: Built, headers?: Record<string, string>): Promise<RawClient> {
  return openRaw(t, server, '/ws/echo', headers === undefined ? {} : { headers })
}

/** What a whole, unfragmented, unmasked frame without RSV bits from the server looks like. */
export function serverFrame (opcode: number, payload: Buffer | string): Frame {
  return { fin: true, rsv: 0, opcode, masked: false, payload: typeof payload === 'string' ? Buffer.from(payload) : payload }
}

/**
 * Asserts that the server failed the connection (RFC 6455 section 7.1.7): a close frame with `code`
 * and an empty reason (ws gives none), then the end of the TCP connection, and no frame after the
 * close frame (section 5.5.1: nothing is sent after it).
 */
export async function assertFailed (t: Test, client: RawClient, code: number): Promise<void> {
  t.same(await client.waitClose(), { code, reason: '' }, `the server closes with ${code}`)
  await client.waitEnd()
  t.same(client.unread.map((frame) => frame.opcode), [], 'and sends nothing after the close frame')
}

/** Asserts that the connection still works: a text message echoes as one text frame. */
export async function assertEchoes (t: Test, client: RawClient, text = 'still here'): Promise<void> {
  client.sendFrame({ opcode: Opcode.Text, payload: text })
  t.same(await client.nextFrame(), serverFrame(Opcode.Text, text), 'the connection still echoes')
}
