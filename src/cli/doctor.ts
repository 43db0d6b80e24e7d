import { Command, InvalidArgumentError, Option } from 'commander'
import { DOCTOR_TIMEOUT_MS, DoctorUsageError, runDoctor, type DoctorReport } from './doctor/run.js'

export { runDoctor, DoctorUsageError, DOCTOR_TIMEOUT_MS, type DoctorOptions, type DoctorReport, type DoctorStep, type DoctorStepName } from './doctor/run.js'
export { CLOSE_CODES, explainCloseCode, explainRefusal, type CloseCodeMeaning, type Explanation, type RefusalContext } from './doctor/explain.js'

interface DoctorFlags {
  origin?: string
  token?: string
  ticket?: string
  protocol: string[]
  ca?: string
  header: Array<[string, string]>
  timeout: number
  json?: boolean
}

/**
 * `fastify-tether doctor <wss-url>`: walks the chain a WebSocket connection goes through and stops at
 * the first broken link with what is wrong and the exact fix. Exit 0 when every link is healthy, 1 at
 * a broken link, 2 on usage errors. There is no option to skip certificate verification.
 */
export function doctorCommand (): Command {
  return new Command('doctor')
    .description('Check a wss:// URL link by link (DNS, TCP, TLS, certificate, upgrade, subprotocol, round trip, close) and say how to fix the first broken one.')
    .argument('<url>', 'the WebSocket URL, e.g. wss://localhost:8443/ws/echo')
    .option('--origin <origin>', 'send this Origin header, as a browser on that page would')
    .option('--token <jwt>', 'send Authorization: Bearer <jwt>')
    .option('--ticket <ticket>', 'present a ticket in Sec-WebSocket-Protocol (never in the URL)')
    .option('--protocol <name>', 'offer this subprotocol (repeatable)', collect, [])
    .option('--ca <file>', 'trust the CA certificate(s) in this PEM file instead of Node\'s trust store')
    .option('--header <header>', 'send a request header, \'Name: value\' (repeatable)', parseHeader, [])
    .addOption(new Option('--timeout <ms>', 'bound of each step, in milliseconds').default(DOCTOR_TIMEOUT_MS).argParser(parseTimeout))
    .option('--json', 'print the steps and the summary as JSON')
    .showHelpAfterError()
    .exitOverride((error) => {
      process.exit(error.exitCode === 0 ? 0 : 2)
    })
    .addHelpText('after', '\nExit status: 0 every link is healthy, 1 a link is broken, 2 usage error.\nExample: fastify-tether doctor --ca .certs/ca.pem wss://localhost:8443/ws/echo')
    .action(async (url: string, flags: DoctorFlags, command: Command) => {
      let report: DoctorReport
      try {
        report = await runDoctor({
          url,
          origin: flags.origin,
          token: flags.token,
          ticket: flags.ticket,
          protocols: flags.protocol,
          caFile: flags.ca,
          headers: Object.fromEntries(flags.header),
          timeoutMs: flags.timeout
        })
      } catch (error) {
        if (error instanceof DoctorUsageError) {
          command.error(`error: ${error.message}`, { exitCode: 2, code: 'fastify-tether.usage' })
        }
        throw error
      }
      process.stdout.write(flags.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report))
      process.exitCode = report.ok ? 0 : 1
    })
}

/** The human form of a report: one line per step with ✓ or ✗, the fix under a broken step, then the summary. */
export function formatReport (report: DoctorReport): string {
  const width = Math.max(...report.steps.map((step) => step.step.length))
  const lines = [`fastify-tether doctor ${report.url}`]
  for (const step of report.steps) {
    lines.push(`${step.ok ? '✓' : '✗'} ${step.step.padEnd(width)}  ${step.detail}`)
    if (step.fix !== undefined) {
      const [first, ...rest] = step.fix.split('\n')
      lines.push(`  fix: ${first ?? ''}`, ...rest.map((line) => `       ${line}`))
    }
  }
  lines.push(report.ok ? `healthy: ${report.summary}` : report.summary)
  return `${lines.join('\n')}\n`
}

function collect (value: string, previous: string[]): string[] {
  return [...previous, value]
}

function parseHeader (value: string, previous: Array<[string, string]>): Array<[string, string]> {
  const colon = value.indexOf(':')
  const name = colon === -1 ? '' : value.slice(0, colon).trim()
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new InvalidArgumentError('expected \'Name: value\'')
  return [...previous, [name, value.slice(colon + 1).trim()]]
}

function parseTimeout (value: string): number {
  const ms = Number(value)
  if (!Number.isInteger(ms) || ms <= 0) throw new InvalidArgumentError('expected a positive whole number of milliseconds')
  return ms
}
