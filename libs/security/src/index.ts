export type { Pem, Subject, Validity } from './certificates';
export { createCa, issueCertificate } from './certificates';
export type { CertsInitOptions, CertsInitResult, EphemeralCertificates } from './certs-dir';
export { ephemeralCertificates, initCertsDir, LOOPBACK_SANS } from './certs-dir';
export type { Identity, Role } from './identity';
export { identityOf, identityOfPem, ROLES } from './identity';
export type { TlsFiles, TlsMaterial } from './tls-files';
export { CERT_REFRESH_ENV, certRefreshMs, DEFAULT_CERT_REFRESH_MS, readTlsFiles, TLS_FLAGS, tlsFilesOf } from './tls-files';
export { checkToken, loadToken, MIN_TOKEN_CHARS, TOKEN_ENV } from './token';
