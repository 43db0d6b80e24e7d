import t from 'tap'
import { testDeployment } from './scenarios.js'
import { freePort, program, proxyDir, proxyCertificate, renderConfig, startHaproxy } from './support.js'

// Item 5 of the "Operations" issue, mode (c): wss through Debian's HAProxy terminating TLS and
// opening its own verified TLS connection to the instance, with docs/deploy/haproxy-tls.cfg as
// shown in docs/deployment.md.

if (program('haproxy') === undefined) {
  t.plan(0, 'haproxy is not installed (apt-get install haproxy; .ci/run installs it)')
} else {
  await testDeployment(t, {
    name: 'HAProxy terminating TLS, TLS again to the instance',
    plainApp: false,
    forwardsClient: true,
    trustProxy: '127.0.0.1',
    misconfigured: { trustProxy: '10.0.0.5', what: 'HAProxy not in TRUST_PROXY: its X-Forwarded-For is ignored, every client is HAProxy' },
    async start (t, app, idleTimeoutS) {
      const dir = await proxyDir(t)
      const certs = await proxyCertificate(dir)
      const port = await freePort()
      const config = await renderConfig('haproxy-tls.cfg', {
        LISTEN: `127.0.0.1:${port}`,
        TLS_PEM: certs.pemPath,
        APP_ADDRESS: `127.0.0.1:${app.port}`,
        INTERNAL_CA: app.caPath,
        APP_TLS_NAME: 'localhost'
      }, [['timeout tunnel 75s', `timeout tunnel ${idleTimeoutS}s`]])
      await startHaproxy(t, dir, config, port)
      return { url: `wss://127.0.0.1:${port}`, ca: certs.ca, name: 'HAProxy' }
    }
  })
}
