import t from 'tap'
import { sharedServer } from './harness.js'
import { closeHandling } from './close.js'
import { pingPong } from './control.js'
import { permessageDeflate } from './deflate.js'
import { fragmentation } from './fragmentation.js'
import { framing, opcodes, reservedBits } from './framing.js'
import { limits } from './limits.js'
import { rawClientChecks } from './raw-client-checks.js'
import { utf8 } from './utf8.js'

// A raw-frame WebSocket conformance suite after Autobahn|Testsuite (which cannot run here), against
// the reference server over real TLS. Every category runs in this one process against one server
// with the default settings (limits starts a second one with a small maxPayloadBytes): a process
// and an app per category would cost more than all the cases together. One category alone:
//   npx tap test/conformance/conformance.test.ts --grep='category 5'

const server = await sharedServer(t)

t.test('the raw client writes and parses frames exactly', async (t) => { rawClientChecks(t) })
t.test('category 1: framing', async (t) => { framing(t, server) })
t.test('category 2: ping and pong', async (t) => { pingPong(t, server) })
t.test('category 3: reserved bits', async (t) => { reservedBits(t, server) })
t.test('category 4: opcodes', async (t) => { opcodes(t, server) })
t.test('category 5: fragmentation', async (t) => { fragmentation(t, server) })
t.test('category 6: UTF-8 handling', async (t) => { utf8(t, server) })
t.test('category 7: close handling', async (t) => { closeHandling(t, server) })
t.test('category 9: limits', async (t) => { await limits(t, server) })
t.test('category 12: permessage-deflate, refused while compression is off', async (t) => { permessageDeflate(t, server) })
