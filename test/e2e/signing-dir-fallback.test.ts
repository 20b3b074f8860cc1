// signing_dir is the fallback for an unreachable identity server, never a source of trust that outranks it
// (issue 19, family 11). A signing_dir whose certificates and revoked.pem differ from the server's (replaced while
// the service was down, or an older revoked.pem with a fresh mtime): with the server up, the server's decide;
// with it down, the directory's are used, said in a warning and in health().
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestPki, signCms, startIdentityServer, toPem, tokenBody, type IdentityServer, type TestPki } from '../../src/testing/index.js';
import { hashToken } from '../../src/index.js';
import { startApp, tempDir } from '../helpers/app.js';

let idp: IdentityServer;
let other: TestPki;
before(async () => {
  idp = await startIdentityServer();
  other = await createTestPki({ signingCommonName: 'Keystone Signing (the directory\'s)' });
});
after(() => idp.close());

/**
 * A signing_dir of this user (mode 0600 files: trusted as files) holding another PKI's certificates and a
 * revoked.pem signed by it, with a fresh mtime, that lists `listed` and not what the server lists.
 */
function directoryOf(pki: TestPki, listed: string[]): string {
  const dir = tempDir('kat-signing-');
  writeFileSync(join(dir, 'signing_cert.pem'), pki.signing.pem, { mode: 0o600 });
  writeFileSync(join(dir, 'cacert.pem'), pki.ca.pem, { mode: 0o600 });
  const expires = new Date(Date.now() + 3600_000).toISOString();
  const content = JSON.stringify({ revoked: listed.map((token) => ({ id: hashToken(token, 'md5'), expires })) });
  writeFileSync(join(dir, 'revoked.pem'), toPem(signCms(Buffer.from(content), pki.signing)), { mode: 0o600 });
  return dir;
}

test('certificates in signing_dir that differ from the server\'s: the server\'s decide while it is up; the directory\'s only while it is down, said so', async () => {
  const theirs = idp.sign(tokenBody({ user: 'dir-user' }), 'pki', other.signing);
  const ours = await idp.issueToken({ user: 'alice' });
  const dir = directoryOf(other, []);
  const up = await startApp(idp, { signing_dir: dir, auth_version: 'v3' });
  try {
    assert.equal((await up.get({ 'x-auth-token': theirs })).status, 401, 'a token of the directory\'s certificate is refused');
    assert.equal((await up.get({ 'x-auth-token': ours })).status, 200);
    assert.equal(up.auth.health().signingCertificate?.source, 'identity server');
    assert.equal(up.auth.health().revocationList?.source, 'identity server');
    assert.doesNotMatch(up.logger.text(), /signing_dir until it can/);
  } finally {
    await up.close();
  }

  const fallback = directoryOf(other, []);
  await idp.setFault('down');
  const down = await startApp(idp, { signing_dir: fallback, auth_version: 'v3' });
  try {
    const { status, keystone } = await down.get({ 'x-auth-token': theirs });
    assert.equal(status, 200, JSON.stringify(keystone));
    // Another signer than the directory's: only the server could say, and it is down: undecidable, never a pass.
    assert.equal((await down.get({ 'x-auth-token': ours })).status, 503);
    const health = down.auth.health();
    assert.equal(health.signingCertificate?.source, 'signing_dir');
    assert.equal(health.revocationList?.source, 'signing_dir');
    assert.match(down.logger.text(), /warn the identity server cannot be reached for the signing certificates; verifying with those in signing_dir until it can/);
    assert.match(down.logger.text(), /warn the identity server cannot give the revocation list; using revoked\.pem from signing_dir until it can/);
  } finally {
    await idp.setFault(null);
    await down.close();
  }
});

test('an older revoked.pem with a fresh mtime does not un-revoke a token while the server is up; with the server down it stands in, said so', async () => {
  const victim = await idp.issueToken({ user: 'victim' });
  idp.revoke(victim);
  const other = await idp.issueToken({ user: 'bob' });
  // A list of the server's own key that does not name the victim (an older one), written fresh.
  const dir = directoryOf(idp.pki, [other]);
  const up = await startApp(idp, { signing_dir: dir, auth_version: 'v3', revocation_cache_time: 3600 });
  try {
    assert.equal((await up.get({ 'x-auth-token': victim })).status, 401, 'the server\'s list decides');
    assert.equal((await up.get({ 'x-auth-token': other })).status, 200, 'the directory\'s list is not read');
  } finally {
    await up.close();
  }
  const dir2 = directoryOf(idp.pki, [other]);
  await idp.setFault('error');
  const down = await startApp(idp, { signing_dir: dir2, auth_version: 'v3', revocation_cache_time: 3600 });
  try {
    assert.equal((await down.get({ 'x-auth-token': other })).status, 401, 'the directory\'s list stands in');
    assert.equal(down.auth.health().revocationList?.source, 'signing_dir');
    assert.match(down.logger.text(), /using revoked\.pem from signing_dir until it can/);
    // The server back: its list replaces the directory's at the next try.
    await idp.setFault(null);
    await down.auth.protocol.revocations.refresh();
    assert.equal((await down.get({ 'x-auth-token': victim })).status, 401);
    assert.equal(down.auth.health().revocationList?.source, 'identity server');
  } finally {
    await idp.setFault(null);
    await down.close();
  }
});
