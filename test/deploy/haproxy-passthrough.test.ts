import t from 'tap'
import { testDeployment } from './scenarios.js'
import { freePort, program, proxyDir, renderConfig, startHaproxy } from './support.js'

// Item 5 of the "Operations" issue, mode (b): wss through Debian's HAProxy in TCP mode, TLS end to
// end from the client to the instance, with docs/deploy/haproxy-passthrough.cfg as shown in
// docs/deployment.md.

if (program('haproxy') === undefined) {
  t.plan(0, 'haproxy is not installed (apt-get install haproxy; .ci/run installs it)')
} else {
  await testDeployment(t, {
    name: 'HAProxy passing TLS through (mode tcp)',
    plainApp: false,
    forwardsClient: false,
    trustProxy: undefined,
    misconfigured: { trustProxy: '127.0.0.1', what: 'a TCP balancer listed in TRUST_PROXY lets the client choose its address' },
    async start (t, app, idleTimeoutS) {
      const dir = await proxyDir(t)
      const port = await freePort()
      const config = await renderConfig('haproxy-passthrough.cfg', {
        LISTEN: `127.0.0.1:${port}`,
        APP_ADDRESS: `127.0.0.1:${app.port}`,
        PUBLIC_CA: app.caPath,
        APP_TLS_NAME: 'localhost'
      }, [
        ['timeout client 75s', `timeout client ${idleTimeoutS}s`],
        ['timeout server 75s', `timeout server ${idleTimeoutS}s`]
      ])
      await startHaproxy(t, dir, config, port)
      // The client talks TLS to the instance itself: it trusts the instance's CA.
      return { url: `wss://127.0.0.1:${port}`, ca: app.ca, name: 'HAProxy (tcp)' }
    }
  })
}
