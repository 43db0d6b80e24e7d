import { tetherTest } from 'fastify-tether/testing'

// A tether server in a process of its own, so a test can read its resident memory from
// /proc/<pid>/status without the clients' memory mixed in. Options come as JSON in argv[2]; it
// prints {"port","ca"} on its first stdout line and lives until killed.
const teardowns: Array<() => unknown> = []
const options = JSON.parse(process.argv[2] ?? '{}') as Record<string, number>
const server = await tetherTest({ teardown: (fn) => { teardowns.push(fn) } }, {
  tether: options,
  logLevel: 'warn',
  routes (app) {
    app.ws('/ws/echo', { auth: false }, async (connection) => {
      for await (const message of connection.messages()) await connection.send(message)
    })
  }
})
process.stdout.write(`${JSON.stringify({ port: server.port, ca: server.ca })}\n`)
