import t from 'tap'
import * as api from 'fastify-tether'

t.test('every error class is built from its row of the error table', async (t) => {
  const errors = [
    new api.ConnectionClosedError(),
    new api.UpgradeRequiredError(),
    new api.HandlerFailedError(new Error('x')),
    new api.ShuttingDownError(),
    new api.OverloadedError(),
    new api.SlowConsumerError(),
    new api.InvalidCloseCodeError(1006),
    new api.ConfigError('X must be set'),
    new api.RateLimitedError(30),
    new api.OriginNotAllowedError(),
    new api.MissingTokenError(),
    new api.InvalidTokenError(),
    new api.InvalidTicketError(),
    new api.ForbiddenError('mfa_required'),
    new api.TooManyConnectionsError('user'),
    new api.TokenExpiredError(),
    new api.BadRequestError('invalid_room', 'bad room'),
    new api.InvalidHandshakeError('the Upgrade header must be websocket'),
    new api.UnsupportedVersionError(),
    new api.NotWebSocketRouteError()
  ]
  t.same(errors.map((e) => e.code).sort(), [...api.ERROR_CODES].sort(), 'one class per code')
  t.same([...api.ERROR_CODES].sort(), Object.keys(api.ERROR_TABLE).sort(), 'ERROR_CODES is the table\'s keys')
  for (const error of errors) {
    const entry = api.ERROR_TABLE[error.code]
    t.ok(error instanceof api.TetherError, `${error.code} is a TetherError`)
    t.equal(error.name, entry.className, `${error.code} is named after its class`)
    t.equal(error.constructor.name, entry.className, `${error.code}: the table names the class`)
    t.equal(error.statusCode, entry.statusCode, `${error.code} status`)
    t.equal(error.closeCode, entry.closeCode, `${error.code} close code`)
    t.ok(error.statusCode >= 400 && error.statusCode <= 599, `${error.code} has an HTTP error status`)
    t.ok(api.isSendableCloseCode(error.closeCode), `${error.code} has a sendable close code`)
    t.match(error.reason, /^[a-z_]+$/, `${error.code} has a snake_case public reason`)
    t.same(error.toResponse(), { error: error.reason, message: error.message })
  }
  t.equal(new api.ForbiddenError('mfa_required').reason, 'mfa_required', 'a policy\'s reason replaces the table\'s')
})
