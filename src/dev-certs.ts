/**
 * `fastify-tether/dev-certs`: a local development CA and a server certificate it signs for
 * localhost, made on first use and reused, so clients trust wss without turning verification off.
 * @packageDocumentation
 */
export { ensureDevCertificates, DEV_CERT_HOSTS, type DevCertificates, type DevCertificateOptions } from './tls/dev-certificates.js'
