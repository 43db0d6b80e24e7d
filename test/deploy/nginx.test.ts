import t from 'tap'
import { testDeployment } from './scenarios.js'
import { freePort, program, proxyDir, proxyCertificate, renderConfig, startNginx } from './support.js'

// Item 5 of the "Operations" issue, mode (a): wss through Debian's nginx terminating TLS, the
// reference server on plain HTTP on loopback (TLS=off), with docs/deploy/nginx.conf as shown in
// docs/deployment.md.

if (program('nginx') === undefined) {
  t.plan(0, 'nginx is not installed (apt-get install nginx; .ci/run installs it)')
} else {
  await testDeployment(t, {
    name: 'nginx terminating TLS, the instance on plain HTTP on loopback',
    plainApp: true,
    forwardsClient: true,
    trustProxy: '127.0.0.1',
    misconfigured: { trustProxy: undefined, what: 'nginx not in TRUST_PROXY: its X-Forwarded-For is ignored, every client is nginx' },
    async start (t, app, idleTimeoutS) {
      const dir = await proxyDir(t)
      const certs = await proxyCertificate(dir)
      const port = await freePort()
      const site = await renderConfig('nginx.conf', {
        APP_PORT: app.port,
        LISTEN: `127.0.0.1:${port}`,
        TLS_CERT: certs.certPath,
        TLS_KEY: certs.keyPath
      }, [
        ['proxy_read_timeout 75s;', `proxy_read_timeout ${idleTimeoutS}s;`],
        ['proxy_send_timeout 75s;', `proxy_send_timeout ${idleTimeoutS}s;`]
      ])
      await startNginx(t, dir, site, port)
      return { url: `wss://127.0.0.1:${port}`, ca: certs.ca, name: 'nginx' }
    }
  })
}
