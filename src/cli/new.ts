import { basename, relative, resolve } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { invalidPackageName } from './new/package-name.js'
import { scaffoldService, TargetNotEmptyError } from './new/scaffold.js'

/** Options of `fastify-tether new`. */
interface NewOptions {
  name?: string
  force?: boolean
}

function packageName (value: string): string {
  const reason = invalidPackageName(value)
  if (reason !== undefined) throw new InvalidArgumentError(`"${value}" is not a valid npm package name: ${reason}.`)
  return value
}

/** How to reach `dir` from the current folder, for the next-steps `cd`. */
function cdPath (dir: string): string {
  const path = relative(process.cwd(), dir)
  const shown = path === '' ? '.' : path.startsWith('..') ? dir : path
  return /^[\w./@-]+$/.test(shown) ? shown : `'${shown.replaceAll('\'', '\'\\\'\'')}'`
}

/**
 * `fastify-tether new <dir>`: scaffolds a service in the layout of fastify-cli (a composition root
 * autoloading plugins/ then routes/) on this version of fastify-tether, with tap tests over real
 * wss, a `.ci/run` and a README. Exit codes: 0 created, 1 the folder is not empty (without
 * `--force`) or writing failed, 2 bad usage (a missing folder, an invalid `--name`).
 */
export function newCommand (): Command {
  return new Command('new')
    .description('Scaffold a service: Fastify over HTTPS with fastify-tether, plugins/ and routes/ autoloaded, tap tests over wss.')
    .argument('<dir>', 'folder to create the service in (created if missing; must be empty)')
    .option('--name <name>', 'npm package name of the service (default: the folder\'s name)', packageName)
    .option('--force', 'write into a folder that is not empty, replacing files of the same names')
    .showHelpAfterError()
    .exitOverride((error) => {
      // Usage errors (a missing <dir>, an invalid --name, an unknown option) exit 2; --help 0.
      process.exit(error.exitCode === 0 ? 0 : 2)
    })
    .addHelpText('after', '\nExample:\n  fastify-tether new my-service && cd my-service && npm install && npm start')
    .action(async function (this: Command, dirArgument: string, options: NewOptions) {
      const dir = resolve(dirArgument)
      const name = options.name ?? basename(dir)
      if (options.name === undefined) {
        const reason = invalidPackageName(name)
        if (reason !== undefined) this.error(`error: the folder's name "${name}" is not a valid npm package name (${reason}); pass --name <name>`, { exitCode: 2 })
      }
      try {
        await scaffoldService({ dir, name, force: options.force === true })
      } catch (error) {
        process.stderr.write(`fastify-tether new: ${error instanceof TargetNotEmptyError ? error.message : String(error)}\n`)
        process.exitCode = 1
        return
      }
      const cd = cdPath(dir)
      process.stdout.write([
        `Created ${name} in ${dir}.`,
        '',
        'Next steps:',
        `  cd ${cd}`,
        '  npm install && npm start    # serves wss://localhost:8443 with a development CA in .certs/',
        '  npm test                    # type check, then the tap tests over real wss',
        '',
        'Commit package-lock.json after the first install: .ci/run runs npm ci and npm test.',
        ''
      ].join('\n'))
    })
}
