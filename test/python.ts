import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'

/** Debian's interpreter, where apt puts python3-websockets (a pyenv or venv python would not see it). */
export const PYTHON = '/usr/bin/python3'

/** Why the Python `websockets` tests must be skipped here, or false when they can run. */
export async function pythonWebsocketsMissing (): Promise<string | false> {
  if (!existsSync(PYTHON)) return `${PYTHON} is not installed`
  try {
    await promisify(execFile)(PYTHON, ['-c', 'import websockets'])
    return false
  } catch {
    return 'python3-websockets is not installed (.ci/run installs it with apt-get)'
  }
}
