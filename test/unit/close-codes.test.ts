import t from 'tap'
import { CloseCode, isSendableCloseCode } from 'fastify-tether'

t.test('codes RFC 6455 section 7.4 allows on the wire are sendable', async (t) => {
  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]) {
    t.equal(isSendableCloseCode(code), true, `${code}`)
  }
})

t.test('reserved, local-only and out-of-range codes are not', async (t) => {
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 1000.5, Number.NaN]) {
    t.equal(isSendableCloseCode(code), false, `${code}`)
  }
})

t.test('the named table matches the registry', async (t) => {
  t.same({ ...CloseCode }, {
    Normal: 1000,
    GoingAway: 1001,
    ProtocolError: 1002,
    UnsupportedData: 1003,
    NoStatus: 1005,
    Abnormal: 1006,
    InvalidPayload: 1007,
    PolicyViolation: 1008,
    MessageTooBig: 1009,
    InternalError: 1011,
    ServiceRestart: 1012,
    TryAgainLater: 1013
  })
})
