export { IdentityServer, startIdentityServer } from './identity-server.js';
export type { Fault, IdentityServerOptions, IssueOptions, RecordedRequest, ServiceCredentials } from './identity-server.js';
export { fernetToken, jwsKeyPair, jwsToken } from './online-tokens.js';
export type { OnlineTokenClaims } from './online-tokens.js';
export { newAuditId, tokenBody } from './bodies.js';
export type { TokenSpec } from './bodies.js';
export { certificateFromPem, createTestPki, issueCertificate } from './pki.js';
export type { TestCertificate, TestPki, CertificateSpec, KeyUsageName } from './pki.js';
export { signCms, toPem, toPkiToken, toPkizToken } from './mint.js';
