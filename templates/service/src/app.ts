import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autoload from '@fastify/autoload'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { jwtAuth, secureServerOptions, tetherPlugin, type ServerCertificate } from 'fastify-tether'
import { ensureDevCertificates } from 'fastify-tether/dev-certs'

/** The project folder (or dist/ once compiled): where plugins/ and routes/ are. */
const root = join(dirname(fileURLToPath(import.meta.url)), '..')

// Running from .ts sources (tsx, the tests) means a TypeScript loader is active; @fastify/autoload
// only detects loaders given with --require, so tell it to load plugins/ and routes/ as .ts.
if (import.meta.url.endsWith('.ts')) process.env['FASTIFY_AUTOLOAD_TYPESCRIPT'] ??= '1'

/** What {@link buildApp} needs. */
export interface AppOptions {
  /** The certificate and key the server presents. */
  certificate: ServerCertificate
  /** The HS256 secret tokens are signed with (at least 32 bytes). */
  secret: string
  /** Fastify's logger option. Default: JSON lines at `info`. */
  logger?: FastifyServerOptions['logger']
}

/**
 * The composition root: Fastify over HTTPS with fastify-tether's TLS policy, every plugin in
 * plugins/ (autoloaded), fastify-tether with HS256 tokens, then every route in routes/.
 */
export async function buildApp (options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    https: secureServerOptions(options.certificate, 10_000),
    logger: options.logger ?? { level: 'info' },
    return503OnClosing: true
  }) as unknown as FastifyInstance // plugins are typed against the default instance; the server is HTTPS
  await app.register(autoload, { dir: join(root, 'plugins') })
  // After the service's own plugins, as fastify-tether asks: routes are authenticated unless they
  // say `auth: false`; browsers trade their token for a ticket at POST /auth/ticket.
  await app.register(tetherPlugin, { auth: jwtAuth({ secret: options.secret }), ticketPath: '/auth/ticket' })
  await app.register(autoload, { dir: join(root, 'routes'), dirNameRoutePrefix: false })
  return app
}

/** The certificate to serve, and where its development CA is (none for a real certificate). */
export interface LoadedCertificate extends ServerCertificate {
  caPath?: string
}

/**
 * TLS_CERT and TLS_KEY (PEM files) when set; otherwise, outside production, a development CA and a
 * localhost certificate in CERT_DIR (default `.certs/`), made on first start and reused.
 */
export async function loadCertificate (env: NodeJS.ProcessEnv = process.env): Promise<LoadedCertificate> {
  const certPath = env['TLS_CERT']
  const keyPath = env['TLS_KEY']
  if (certPath !== undefined && keyPath !== undefined) {
    return { cert: await readFile(certPath), key: await readFile(keyPath) }
  }
  if (env['NODE_ENV'] === 'production') throw new Error('TLS_CERT and TLS_KEY must name the PEM certificate and key in production')
  const dev = await ensureDevCertificates({ dir: env['CERT_DIR'] ?? '.certs' })
  return { cert: dev.cert, key: dev.key, caPath: dev.caPath }
}
