// Uses every entry point's types, so each tsc run (NodeNext, bundler, node10) proves they resolve.
// Not imported by the service: importing it would load ioredis and the X.509 stack.
import type { FastifyBaseLogger } from 'fastify'
import { tetherPlugin, type Backplane, type ServerCertificate, type TetherOptions } from 'fastify-tether'
import { RedisBackplane } from 'fastify-tether/redis'
import { ensureDevCertificates, type DevCertificates } from 'fastify-tether/dev-certs'
import { tetherTest, type TestServer } from 'fastify-tether/testing'
import { tetherMetrics, type TetherMetrics } from 'fastify-tether/metrics'
import type { FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'

export function redisOptions (url: string, log: FastifyBaseLogger): TetherOptions {
  const backplane: Backplane = new RedisBackplane({ url, log })
  return { backplane }
}

export async function devCertificate (dir: string): Promise<ServerCertificate> {
  const certificates: DevCertificates = await ensureDevCertificates({ dir })
  return certificates
}

export function metrics (app: FastifyInstance): TetherMetrics {
  return tetherMetrics(app, { registry: new Registry(), prefix: 'service_tether_' })
}

export const entryPoints = { tetherPlugin, tetherTest } satisfies Record<string, unknown>
export type { TestServer }
