// The test identity server in a process of its own, for benchmarks whose measurement must not include the
// server's work. Prints one JSON line {url} when ready; REVOKED=n puts n ids on its revocation list,
// each with an audit id as Keystone (Kilo and later) lists them (AUDIT_IDS=odd: UUIDs instead of Keystone's 22
// characters); FAULT=name plays that fault (see Fault); the line also holds a PKI token it issued (`token`).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { startIdentityServer, type Fault } from '../src/testing/index.js';

/** An admin token of the server's (v2.0 password authentication). */
async function adminTokenOf(url: string, admin: { admin_user: string; admin_password: string; admin_tenant_name: string }): Promise<string> {
  const response = await fetch(`${url}/v2.0/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: { passwordCredentials: { username: admin.admin_user, password: admin.admin_password }, tenantName: admin.admin_tenant_name } }),
  });
  return ((await response.json()) as { access: { token: { id: string } } }).access.token.id;
}

const idp = await startIdentityServer();
const revoked = Number(process.env.REVOKED ?? 0);
const auditId = process.env.AUDIT_IDS === 'odd' ? () => randomUUID() : () => randomBytes(16).toString('base64url');
if (revoked > 0) {
  idp.revokeIds(
    Array.from({ length: revoked }, (_, i) => createHash('md5').update(`revoked-${i}`).digest('hex')),
    Array.from({ length: revoked }, auditId),
  );
}
if (process.env.FAULT) await idp.setFault(process.env.FAULT as Fault);
const adminToken = await adminTokenOf(idp.url, idp.adminCredentials);
// The list signed and its answer serialised now: the first download measures the client alone.
if (!process.env.FAULT && revoked > 0) await fetch(`${idp.url}/v3/auth/tokens/OS-PKI/revoked`, { headers: { 'x-auth-token': adminToken } }).then((r) => r.arrayBuffer());
// SIGUSR2: one more entry on the list, so that the next list differs from the last (and is written again); the
// new list is signed at once, and {"signed": n} printed when it is ready to serve.
process.on('SIGUSR2', () => {
  idp.revokeIds([randomBytes(16).toString('hex')], [auditId()]);
  void fetch(`${idp.url}/v3/auth/tokens/OS-PKI/revoked`, { headers: { 'x-auth-token': adminToken } }).then(async (response) => {
    await response.arrayBuffer(); // the answer, serialised once and kept
    console.log(JSON.stringify({ signed: Date.now() }));
  });
});
console.log(JSON.stringify({ url: idp.url, ...idp.adminCredentials, token: await idp.issueToken({ user: 'bench' }) }));
process.on('SIGTERM', () => void idp.close().then(() => process.exit(0)));
