#!/usr/bin/env node
/**
 * The `fastify-tether` command: `doctor` explains why a wss connection fails, `cert` manages the
 * development certificates, `new` scaffolds a service. Exit codes: 0 success, 1 the thing checked
 * is broken (doctor found a broken link, a command failed), 2 bad usage.
 * @packageDocumentation
 */
import { Command } from 'commander'
import { certCommand } from './cli/cert.js'
import { doctorCommand } from './cli/doctor.js'
import { newCommand } from './cli/new.js'

/** commander's own usage errors (unknown option, missing argument) exit 2; --help and --version 0. */
const usageExit = (error: { exitCode: number }): never => process.exit(error.exitCode === 0 ? 0 : 2)

const program = new Command('fastify-tether')
  .description('Secure WebSocket services on Fastify: diagnose wss connections, manage development certificates, scaffold a service.')
program.addCommand(doctorCommand())
program.addCommand(certCommand())
program.addCommand(newCommand())
// Subcommands added with addCommand() do not inherit these settings: apply them to every one.
for (const command of [program, ...program.commands]) command.showHelpAfterError().exitOverride(usageExit)

await program.parseAsync(process.argv)
