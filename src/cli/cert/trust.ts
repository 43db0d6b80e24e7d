/**
 * The trust steps `fastify-tether cert` prints: how each kind of client comes to trust the
 * development CA, with the CA's real path filled in.
 * @packageDocumentation
 */

/** The nickname the CA gets in an NSS database unless `--nickname` says otherwise (as in the README). */
export const DEFAULT_NSS_NICKNAME = 'fastify-tether-dev'

/** How one kind of client trusts the CA: commands or clicks, one per line. */
export interface TrustStep {
  /** Stable key for `--json` (`node`, `curl`, `python`, `chromium`, `firefox`, `macos`, `windows`, `debian`, `devices`). */
  id: string
  /** Human label. */
  label: string
  steps: string[]
}

/** What {@link trustSteps} fills in. */
export interface TrustStepOptions {
  /** Absolute path of ca.pem. */
  caPath: string
  /** NSS nickname for the certutil commands. */
  nickname: string
  /** Port of the example URLs (the reference server's PORT, default 8443). */
  port: number
  /** The extra names of the server certificate (LAN addresses a device connects to). */
  extraHosts: readonly string[]
}

/** The trust steps for Node, curl, Python, Chromium, Firefox, macOS, Windows, Debian and, with extra hosts, other devices. */
export function trustSteps (options: TrustStepOptions): TrustStep[] {
  const ca = shellQuote(options.caPath)
  const nick = shellQuote(options.nickname)
  const origin = `https://localhost:${options.port}`
  const nssdb = '$HOME/.pki/nssdb'
  const steps: TrustStep[] = [
    {
      id: 'node',
      label: 'Node',
      steps: [
        `NODE_EXTRA_CA_CERTS=${ca} node client.js`,
        `or per connection: new WebSocket(url, { ca: readFileSync(${JSON.stringify(options.caPath)}) })`
      ]
    },
    { id: 'curl', label: 'curl', steps: [`curl --cacert ${ca} ${origin}/health`] },
    { id: 'python', label: 'Python', steps: [`ssl.create_default_context(cafile=${JSON.stringify(options.caPath)})`] },
    {
      id: 'chromium',
      label: 'Chromium/Chrome/Edge (Linux, NSS)',
      steps: [
        'npx fastify-tether cert --install   (does the two lines below)',
        `mkdir -p "${nssdb}" && { [ -f "${nssdb}/cert9.db" ] || certutil -N -d "sql:${nssdb}" --empty-password; }`,
        `certutil -A -d "sql:${nssdb}" -t "C,," -n ${nick} -i ${ca}`,
        'then restart the browser'
      ]
    },
    {
      id: 'firefox',
      label: 'Firefox (its own NSS database per profile)',
      steps: [
        `Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import ${options.caPath} > "Trust this CA to identify websites"`,
        `or, per profile: certutil -A -d sql:"$HOME/.mozilla/firefox/<profile>" -t "C,," -n ${nick} -i ${ca}`
      ]
    },
    { id: 'macos', label: 'macOS', steps: [`sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${ca}`] },
    { id: 'windows', label: 'Windows (as administrator)', steps: [`certutil -addstore -f ROOT ${/[\s&^|<>()]/.test(options.caPath) ? `"${options.caPath}"` : options.caPath}`] },
    {
      id: 'debian',
      label: 'Debian/Ubuntu system store',
      steps: [`sudo cp ${ca} /usr/local/share/ca-certificates/${options.nickname.replace(/[^\w.-]+/g, '-')}.crt && sudo update-ca-certificates`]
    }
  ]
  if (options.extraHosts.length > 0) {
    const host = options.extraHosts[0] ?? ''
    steps.push({
      id: 'devices',
      label: 'Other devices (phone, tablet)',
      steps: [
        `connect to https://${host.includes(':') ? `[${host}]` : host}:${options.port}; the reference server listens on 127.0.0.1 unless HOST=0.0.0.0`,
        `copy ${options.caPath} to the device and install it as a CA certificate (Android: Settings > Security > Encryption & credentials > Install a certificate > CA certificate; iOS: open it, install the profile, then Settings > General > About > Certificate Trust Settings)`
      ]
    })
  }
  return steps
}

/** Quotes a word for a POSIX shell when it needs it. */
export function shellQuote (word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`
}
