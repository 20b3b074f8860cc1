export { IdentityServer, startIdentityServer } from './identity-server.js';
export type { Fault, IdentityServerOptions, IssueOptions, RecordedRequest } from './identity-server.js';
export { newAuditId, tokenBody } from './bodies.js';
export type { TokenSpec } from './bodies.js';
export { certificateFromPem, createTestPki, issueCertificate } from './pki.js';
export type { TestCertificate, TestPki, CertificateSpec, KeyUsageName } from './pki.js';
export { signCms, toPem, toPkiToken, toPkizToken } from './mint.js';
