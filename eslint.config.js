import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'node_modules/**', '.tap/**', 'test/docs/.snippets-*/**']
  }),
  {
    // The reference server is the library's first consumer: it imports fastify-tether's public
    // entry points only, never a file of src/.
    files: ['server/**', 'plugins/**', 'routes/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/src/**', '**/src'], message: 'import fastify-tether (or a subpath) as a service would' }] }]
    }
  }
]
