import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { build } from '../helper.js'
import { PYTHON, pythonWebsocketsMissing } from '../python.js'

const run = promisify(execFile)
const SCRIPT = join(import.meta.dirname, '..', 'fixtures', 'python-echo-client.py')

const missing = await pythonWebsocketsMissing()

t.test('python3-websockets connects over wss trusting only the dev CA and round-trips messages', { skip: missing }, async (t) => {
  const { wsUrl, ca } = await build(t)
  const cafile = join(t.testdir(), 'ca.pem')
  await writeFile(cafile, ca)
  const { stdout } = await run(PYTHON, [SCRIPT, `${wsUrl}/ws/echo`, cafile], { timeout: 10_000 })
  t.same(JSON.parse(stdout), { text: 'hello from python', binary: [0, 1, 254, 255], tls: 'TLSv1.3' })
})
