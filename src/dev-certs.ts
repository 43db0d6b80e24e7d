/**
 * `fastify-tether/dev-certs`: a local development CA and a server certificate it signs for
 * localhost, made on first use and reused, so clients trust wss without turning verification off.
 * @packageDocumentation
 */
export { ensureDevCertificates, parseDevCertHost, DEV_CERT_HOSTS, DEV_CERT_HOSTS_FILE, type DevCertificates, type DevCertificateOptions, type DevCertHost } from './tls/dev-certificates.js'
