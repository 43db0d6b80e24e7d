import { builtinModules } from 'node:module'

const URL_SAFE = /^[a-z0-9-._~]+$/
const SCOPED = /^@([^/]+)\/([^/]+)$/

/**
 * Why `name` cannot be a new npm package's name, or `undefined` when it can: the rules npm applies
 * to new packages (those of `validate-npm-package-name`): 1-214 characters, lower case, URL-safe,
 * not starting with `.` or `_`, optionally `@scope/`, and neither a Node core module nor a name npm
 * reserves.
 */
export function invalidPackageName (name: string): string | undefined {
  if (name.length === 0) return 'it is empty'
  if (name.length > 214) return 'it is longer than 214 characters'
  if (name.trim() !== name) return 'it has leading or trailing spaces'
  if (name.toLowerCase() !== name) return 'it has capital letters'
  if (['node_modules', 'favicon.ico'].includes(name)) return 'npm reserves it'
  if (builtinModules.includes(name)) return 'it is a Node.js core module'
  const scoped = SCOPED.exec(name)
  const parts = scoped === null ? [name] : [scoped[1] ?? '', scoped[2] ?? '']
  for (const part of parts) {
    if (part.startsWith('.') || part.startsWith('_')) return 'it starts with . or _'
    if (!URL_SAFE.test(part)) return 'it may only contain a-z, 0-9, -, ., _ and ~ (and one @scope/)'
  }
  return undefined
}
