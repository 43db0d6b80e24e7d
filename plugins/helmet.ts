import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/**
 * Security headers on every HTTP response (refusals included): a CSP whose connect-src is only
 * this server's own origins, no framing, HSTS, nosniff, no referrer.
 */
export default fp(async function securityHeaders (app: FastifyInstance) {
  let ownWss: string | undefined
  // The port is known once the server listens (0 in tests), so the directive is computed on first use.
  const wssOrigins = (): string => {
    if (ownWss === undefined) {
      const address = app.server.address()
      const port = typeof address === 'object' && address !== null ? address.port : app.config.port
      ownWss = `wss://localhost:${port} wss://127.0.0.1:${port}`
    }
    return ownWss
  }
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        connectSrc: ["'self'", wssOrigins],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"]
      }
    },
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
    referrerPolicy: { policy: 'no-referrer' },
    xFrameOptions: { action: 'deny' }
  })
}, { name: 'security-headers' })
