/**
 * `fastify-tether/redis`: the Redis pub/sub backplane (ioredis, an optional peer dependency), so
 * hubs on several instances act as one.
 * @packageDocumentation
 */
export { RedisBackplane, type BackplaneStats, type RedisBackplaneOptions } from './hub/redis-backplane.js'
