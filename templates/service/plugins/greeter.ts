import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** The greeting the hello route sends. */
    greet: (name: string) => string
  }
}

/** Decorates the app with `greet(name)`, used by routes/ws/hello.ts. */
export default fp(async function greeter (app: FastifyInstance) {
  app.decorate('greet', (name: string) => `hello ${name}`)
}, { name: 'greeter' })
