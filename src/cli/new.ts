import { Command } from 'commander'

/** `fastify-tether new`. */
export function newCommand (): Command {
  return new Command('new').description('(not built yet)').action(() => {
    process.exitCode = 1
  })
}
