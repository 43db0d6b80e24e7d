import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { ROOT } from '../process/support.js'
import { DEPLOY_DIR } from './support.js'

// docs/deployment.md shows the proxy configurations the deployment tests run: each file of
// docs/deploy/ appears there, after an include marker, as a code block equal to the file.

t.test('docs/deployment.md shows every docs/deploy file verbatim', async (t) => {
  const doc = await readFile(join(ROOT, 'docs', 'deployment.md'), 'utf8')
  const shown = new Map<string, string>()
  for (const match of doc.matchAll(/^<!-- include docs\/deploy\/([\w.-]+) -->\n```\w*\n([\s\S]*?)^```$/gm)) {
    t.notOk(shown.has(match[1] ?? ''), `${match[1]} is shown once`)
    shown.set(match[1] ?? '', match[2] ?? '')
  }
  const files = (await readdir(DEPLOY_DIR)).sort()
  t.same([...shown.keys()].sort(), files, 'one block per file, no more')
  for (const file of files) {
    t.equal(shown.get(file), await readFile(join(DEPLOY_DIR, file), 'utf8'), `${file}: the block is the file`)
  }
})
