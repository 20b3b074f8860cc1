import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createTestPki, startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { startApp, tempDir } from '../helpers/app.js';

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
});
after(async () => {
  await idp.close();
});

test('a stale signing_cert.pem in signing_dir does not outrank the identity server: fetched once at start, replaced, no rm needed', async () => {
  const dir = tempDir();
  const stale = await createTestPki({ signingCommonName: 'Old Keystone Signing' });
  writeFileSync(join(dir, 'signing_cert.pem'), stale.signing.pem, { mode: 0o600 });
  writeFileSync(join(dir, 'cacert.pem'), stale.ca.pem, { mode: 0o600 });
  const app = await startApp(idp, { signing_dir: dir, auth_version: 'v3' });
  try {
    const mark = idp.count('/v3/OS-SIMPLE-CERT/certificates');
    const token = await idp.issueToken();
    const { status } = await app.get({ 'x-auth-token': token });
    assert.equal(status, 200);
    assert.equal(idp.count('/v3/OS-SIMPLE-CERT/certificates') - mark, 1);
    assert.equal(readFileSync(join(dir, 'signing_cert.pem'), 'utf8'), idp.pki.signing.pem);
    assert.equal(app.auth.health().signingCertificate?.source, 'identity server');
  } finally {
    await app.close();
  }
});

test('after the identity server rotates its signing certificate, new tokens verify after one refetch; a flood of unknown signers does not flood the server', async () => {
  const app = await startApp(idp, { auth_version: 'v3', certificateRefetchCooldown: 60 });
  try {
    const before = await idp.issueToken();
    assert.equal((await app.get({ 'x-auth-token': before })).status, 200);
    const mark = idp.count('/v3/OS-SIMPLE-CERT/certificates');
    // Inside the cooldown after the first fetch, an unknown signer does not cause a refetch; only a refetch could
    // decide on it (it may be a rotation), so it is undecidable now: 503 with Retry-After, never 401, never cached.
    const foreign = await createTestPki();
    const forged = idp.sign({ token: {} }, 'pki', foreign.signing);
    for (let i = 0; i < 20; i++) {
      const { status, keystone, response } = await app.get({ 'x-auth-token': forged });
      assert.equal(status, 503);
      assert.equal(keystone.error.reason, 'ERR_CERTIFICATE_REFETCH_PENDING');
      const retryAfter = Number(response.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    }
    assert.equal(idp.count('/v3/OS-SIMPLE-CERT/certificates') - mark, 0, 'cooldown holds');
  } finally {
    await app.close();
  }
  // A fresh node whose signing_dir holds the pre-rotation certificate heals on the first new token.
  const dir = tempDir();
  const first = await startApp(idp, { signing_dir: dir, auth_version: 'v3' });
  const old = await idp.issueToken();
  assert.equal((await first.get({ 'x-auth-token': old })).status, 200);
  await first.close();
  await idp.rotateSigningCertificate();
  const second = await startApp(idp, { signing_dir: dir, auth_version: 'v3' });
  try {
    const mark = idp.count('/v3/OS-SIMPLE-CERT/certificates');
    const fresh = await idp.issueToken({ format: 'pkiz' });
    const results = await Promise.all(Array.from({ length: 10 }, () => second.get({ 'x-auth-token': fresh })));
    assert.ok(results.every((r) => r.status === 200));
    assert.equal(idp.count('/v3/OS-SIMPLE-CERT/certificates') - mark, 1, 'one refetch for ten concurrent requests');
  } finally {
    await second.close();
  }
});

test('identity server down: uncached PKI tokens get 503 and nothing is cached; it recovers when the server returns', async () => {
  const app = await startApp(idp, { auth_version: 'v3' });
  try {
    const token = await idp.issueToken();
    await idp.setFault('down');
    const down = await app.get({ 'x-auth-token': token });
    assert.equal(down.status, 503);
    assert.equal(down.keystone.error.reason, 'ERR_IDENTITY_UNAVAILABLE');
    assert.equal(down.response.headers.get('www-authenticate'), null);
    await idp.setFault(null);
    assert.equal((await app.get({ 'x-auth-token': token })).status, 200, 'not cached as invalid');
  } finally {
    await idp.setFault(null);
    await app.close();
  }
});

test('identity server answering 500, garbage, too much or half an answer: 503, never a pass', async () => {
  for (const fault of ['error', 'garbage', 'huge', 'truncated'] as const) {
    const app = await startApp(idp, { auth_version: 'v3', identityResponseMaxBytes: 1024 * 1024 });
    try {
      await idp.setFault(fault);
      const token = await idp.issueToken();
      const { status } = await app.get({ 'x-auth-token': token });
      assert.equal(status, 503, fault);
      assert.deepEqual(readdirSync(app.auth.protocol.signingDir.path), [], `${fault}: nothing written`);
    } finally {
      await idp.setFault(null);
      await app.close();
    }
  }
});

test('a certificate that did not sign the tokens: 401 after one refetch, the process stays up', async () => {
  const app = await startApp(idp, { auth_version: 'v3' });
  try {
    await idp.setFault('wrong-certificate');
    const token = await idp.issueToken();
    const { status, keystone } = await app.get({ 'x-auth-token': token });
    assert.equal(status, 401);
    assert.equal(keystone.error.reason, 'ERR_SIGNER_MISMATCH');
  } finally {
    await idp.setFault(null);
    await app.close();
  }
});

test('the revocation list serves past its refresh time only up to the staleness bound, then uncached PKI tokens get 503', async () => {
  const app = await startApp(idp, { auth_version: 'v3', revocation_cache_time: 1, revocationMaxStaleness: 1 });
  try {
    const cached = await idp.issueToken();
    assert.equal((await app.get({ 'x-auth-token': cached })).status, 200);
    await idp.setFault('down');
    const early = await idp.issueToken();
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.equal((await app.get({ 'x-auth-token': early })).status, 200, 'within the staleness bound');
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const late = await idp.issueToken();
    const refused = await app.get({ 'x-auth-token': late });
    assert.equal(refused.status, 503);
    assert.equal(refused.keystone.error.reason, 'ERR_REVOCATION_LIST_STALE');
    assert.equal((await app.get({ 'x-auth-token': cached })).status, 200, 'cached tokens still pass');
  } finally {
    await idp.setFault(null);
    await app.close();
  }
});

test('revocation_cache_time = 0 does not fetch the list on every request', async () => {
  const app = await startApp(idp, { auth_version: 'v3', revocation_cache_time: 0 });
  try {
    assert.match(app.logger.text(), /revocation_cache_time = 0 would fetch the revocation list on every request/);
    const mark = idp.count('/v3/auth/tokens/OS-PKI/revoked');
    const tokens = await Promise.all(Array.from({ length: 30 }, (_, i) => idp.issueToken({ user: `u${i}` })));
    for (const token of tokens) assert.equal((await app.get({ 'x-auth-token': token })).status, 200);
    assert.ok(idp.count('/v3/auth/tokens/OS-PKI/revoked') - mark <= 2, 'at most one refresh per second');
  } finally {
    await app.close();
  }
});

test('bad admin credentials: PKI tokens cannot be checked for revocation, 503 (fail closed)', async () => {
  const app = await startApp(idp, { auth_version: 'v3', admin_password: 'wrong' });
  try {
    const { status, keystone } = await app.get({ 'x-auth-token': await idp.issueToken() });
    assert.equal(status, 503);
    assert.equal(keystone.error.reason, 'ERR_REVOCATION_LIST_STALE');
    assert.match(app.logger.text(), /refused the service credentials, admin_user admin/);
    assert.doesNotMatch(app.logger.text(), /wrong/, 'the password never appears in logs');
  } finally {
    await app.close();
  }
});

test('signing_dir deleted while running: recreated on the next write', async () => {
  const dir = tempDir();
  const app = await startApp(idp, { signing_dir: dir, auth_version: 'v3' });
  try {
    const { rmSync, existsSync } = await import('node:fs');
    rmSync(dir, { recursive: true });
    assert.equal((await app.get({ 'x-auth-token': await idp.issueToken() })).status, 200);
    assert.ok(existsSync(join(dir, 'signing_cert.pem')));
  } finally {
    await app.close();
  }
});

test('logs never hold a whole token', async () => {
  const app = await startApp(idp, { auth_version: 'v3' });
  const tokens = [await idp.issueToken(), 'MIIgarbage' + 'A'.repeat(100), await idp.issueToken({ format: 'uuid' }), 'f00dbabe-not-a-token'];
  try {
    for (const token of tokens) await app.get({ 'x-auth-token': token });
    const text = app.logger.text();
    assert.ok(text.length > 0);
    for (const token of tokens) assert.ok(!text.includes(token), 'a token appears in the logs');
  } finally {
    await app.close();
  }
});
