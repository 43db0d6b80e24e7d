import { Command } from 'commander'

/** `fastify-tether cert`. */
export function certCommand (): Command {
  return new Command('cert').description('(not built yet)').action(() => {
    process.exitCode = 1
  })
}
