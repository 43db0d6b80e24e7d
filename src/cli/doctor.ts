import { Command } from 'commander'

/** `fastify-tether doctor`. */
export function doctorCommand (): Command {
  return new Command('doctor').description('(not built yet)').action(() => {
    process.exitCode = 1
  })
}
