// Uses every entry point's types, so each tsc run (NodeNext, bundler, node10) proves they resolve.
// Not imported by the service: importing it would load ioredis and the X.509 stack.
import type { FastifyBaseLogger } from 'fastify'
import { tetherPlugin, type Backplane, type ServerCertificate, type TetherOptions } from 'fastify-tether'
import { RedisBackplane } from 'fastify-tether/redis'
import { ensureDevCertificates, type DevCertificates } from 'fastify-tether/dev-certs'
import { tetherTest, type TestServer } from 'fastify-tether/testing'

export function redisOptions (url: string, log: FastifyBaseLogger): TetherOptions {
  const backplane: Backplane = new RedisBackplane({ url, log })
  return { backplane }
}

export async function devCertificate (dir: string): Promise<ServerCertificate> {
  const certificates: DevCertificates = await ensureDevCertificates({ dir })
  return certificates
}

export const entryPoints = { tetherPlugin, tetherTest } satisfies Record<string, unknown>
export type { TestServer }
