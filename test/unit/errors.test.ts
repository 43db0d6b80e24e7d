import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import * as api from 'fastify-tether'

t.test('every error code is documented in the README', async (t) => {
  const readme = await readFile(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8')
  for (const code of api.ERROR_CODES) t.ok(readme.includes(`\`${code}\``), `${code} is documented`)
})

t.test('every exported error class carries a listed code, an HTTP status and a sendable close code', async (t) => {
  const errors = [
    new api.ConnectionClosedError(),
    new api.UpgradeRequiredError(),
    new api.HandlerFailedError(new Error('x')),
    new api.ShuttingDownError(),
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
    new api.BadRequestError('invalid_room', 'bad room')
  ]
  t.same(errors.map((e) => e.code).sort(), [...api.ERROR_CODES].sort(), 'one class per code')
  for (const error of errors) {
    t.ok(error instanceof api.TetherError, `${error.code} is a TetherError`)
    t.ok(error.statusCode >= 400 && error.statusCode <= 599, `${error.code} has an HTTP error status`)
    t.ok(api.isSendableCloseCode(error.closeCode), `${error.code} has a sendable close code`)
    t.match(error.reason, /^[a-z_]+$/, `${error.code} has a snake_case public reason`)
    t.same(error.toResponse(), { error: error.reason, message: error.message })
  }
})
