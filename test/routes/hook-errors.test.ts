import t, { type Test } from 'tap'
import { BadRequestError, ForbiddenError, type TetherError } from 'fastify-tether'
import { tetherTest, type TestServer } from 'fastify-tether/testing'

// A TetherError thrown from a route's own onRequest, preValidation or preHandler hook refuses the
// upgrade like a built-in check: its status, its {error, message} body, an 'upgrade refused' log
// line with its reason, a count in app.tether.refusals. Anything else is a bare 500.

type HookName = 'onRequest' | 'preValidation' | 'preHandler'
const HOOKS: HookName[] = ['onRequest', 'preValidation', 'preHandler']

interface Thrower { server: TestServer, handlerRan: () => boolean }

async function routeThrowing (t: Test, hook: HookName, makeError: () => Error): Promise<Thrower> {
  let ran = false
  const server = await tetherTest(t, {
    logLevel: 'debug',
    routes (app) {
      app.ws('/hooked', { [hook]: async () => { throw makeError() } }, async () => { ran = true })
    }
  })
  return { server, handlerRan: () => ran }
}

const TETHER_ERRORS: Array<{ name: string, make: () => TetherError, status: number, body: { error: string, message: string } }> = [
  { name: 'ForbiddenError(\'nope\')', make: () => new ForbiddenError('nope'), status: 403, body: { error: 'nope', message: 'forbidden: nope' } },
  { name: 'BadRequestError(\'bad_thing\', ...)', make: () => new BadRequestError('bad_thing', 'the thing is bad'), status: 400, body: { error: 'bad_thing', message: 'the thing is bad' } }
]

for (const hook of HOOKS) {
  for (const thrown of TETHER_ERRORS) {
    t.test(`${thrown.name} thrown from a route's ${hook} hook: ${thrown.status} ${thrown.body.error}, logged and counted`, async (t) => {
      const { server, handlerRan } = await routeThrowing(t, hook, thrown.make)
      const refusal = await server.expectRefusal('/hooked', { token: server.sign({ sub: 'alice' }) })
      t.equal(refusal.status, thrown.status)
      t.same(refusal.body, thrown.body)
      const line = await server.logs.waitFor((l) => l.msg === 'upgrade refused', 'the refusal line')
      t.equal(line['reason'], thrown.body.error)
      t.equal(line['statusCode'], thrown.status)
      t.equal(line['route'], '/hooked')
      t.same(server.app.tether.refusals, { [thrown.body.error]: 1 })
      t.notOk(handlerRan(), 'the handler never ran')
    })
  }

  t.test(`a plain Error thrown from a route's ${hook} hook: 500 internal_error, nothing leaked, an error log line`, async (t) => {
    const { server, handlerRan } = await routeThrowing(t, hook, () => new Error('db password is hunter2'))
    const refusal = await server.expectRefusal('/hooked', { token: server.sign({ sub: 'alice' }) })
    t.equal(refusal.status, 500)
    t.same(refusal.body, { error: 'internal_error', message: 'internal error' }, 'only the generic reason')
    const text = JSON.stringify(refusal.body)
    t.notMatch(text, /hunter2/, 'no message')
    t.notMatch(text, /stack|\bat /, 'no stack')
    const line = await server.logs.waitFor((l) => l.msg === 'websocket route hook failed', 'the error line')
    t.equal(line.level, 50, 'logged at error level')
    t.equal((line['err'] as { message?: string }).message, 'db password is hunter2', 'the log keeps what the client does not see')
    t.same(server.app.tether.refusals, {}, 'a server fault is not a refusal')
    t.notOk(handlerRan(), 'the handler never ran')
  })
}

t.test('a TetherError thrown from a hook the route inherits from its plugin scope is refused the same way', async (t) => {
  const server = await tetherTest(t, {
    routes (app) {
      app.addHook('preHandler', async () => { throw new ForbiddenError('scope_says_no') })
      app.ws('/scoped', async () => {})
    }
  })
  const refusal = await server.expectRefusal('/scoped', { token: server.sign({ sub: 'alice' }) })
  t.equal(refusal.status, 403)
  t.same(refusal.body, { error: 'scope_says_no', message: 'forbidden: scope_says_no' })
  t.same(server.app.tether.refusals, { scope_says_no: 1 })
})

t.test('an error with a client status from another plugin\'s hook keeps its status and goes to the host\'s error handler', async (t) => {
  const server = await tetherTest(t, {
    routes (app) {
      app.setErrorHandler(async (error: Error & { statusCode?: number }, _request, reply) => {
        await reply.code(error.statusCode ?? 500).send({ host: true, message: error.message })
      })
      app.ws('/teapot', { onRequest: async () => { throw Object.assign(new Error('short and stout'), { statusCode: 418 }) } }, async () => {})
    }
  })
  const refusal = await server.expectRefusal('/teapot', { token: server.sign({ sub: 'alice' }) })
  t.equal(refusal.status, 418)
  t.same(refusal.body, { host: true, message: 'short and stout' })
  t.same(server.app.tether.refusals, {}, 'not tether\'s refusal')
  t.notOk(server.logs.lines.some((l) => l.msg === 'websocket route hook failed'), 'not logged as a server fault')
})
