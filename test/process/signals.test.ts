import t from 'tap'
import { alive, health, ready, SOURCE_SERVER, spawnServer } from './support.js'

// Finding 9 of the "Hardening" issue: SIGHUP, SIGUSR2 and SIGQUIT each shut the server down. Only
// SIGTERM and SIGINT may; the others are logged and ignored, except SIGHUP, which reloads the
// certificate ("Operations" issue, item 4; test/ops/cert-reload-sighup.test.ts rotates one).

t.test('SIGHUP reloads the certificate, SIGUSR2 and SIGQUIT are logged and ignored; the server still answers /health; SIGINT then exits 0', async (t) => {
  const server = spawnServer(t, SOURCE_SERVER)
  const { port, ca, pid } = await ready(server)
  t.equal(pid, server.child.pid, 'the logging process is the one spawned')
  t.equal(await health(port, ca), 200)
  for (const [signal, says] of [['SIGHUP', /reloading the certificate/], ['SIGUSR2', /ignored/], ['SIGQUIT', /ignored/]] as const) {
    server.child.kill(signal)
    const line = await server.logs.waitFor((l) => l['signal'] === signal && l.level === (signal === 'SIGHUP' ? 30 : 40), `the ${signal} line`)
    if (signal === 'SIGHUP') await server.logs.waitFor((l) => l['trigger'] === 'SIGHUP' && l.msg === 'certificate unchanged', 'the reload outcome')
    t.match(line.msg, says, `${signal} is logged`)
    t.equal(await health(port, ca), 200, `still serving after ${signal}`)
    t.ok(alive(pid), `still running after ${signal}`)
  }
  t.notOk(server.logs.lines.some((l) => l.msg === 'shutting down'), 'no shutdown began')
  server.child.kill('SIGINT')
  t.equal(await server.exited, 0, 'SIGINT shuts down, exit 0')
  t.ok(server.logs.lines.some((l) => l.msg === 'shutting down' && l['signal'] === 'SIGINT'))
})
