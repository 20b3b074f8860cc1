import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { hashToken } from '../../src/index.js';
import { WORKER_THRESHOLD_BYTES } from '../../src/signing/revocation-worker.js';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { startApp, tempDir } from '../helpers/app.js';

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
  idp.revokeIds(Array.from({ length: 10_000 }, () => randomBytes(16).toString('hex')));
});
after(async () => {
  await idp.close();
});

test('a revocation list of 10,000 entries (read on the worker thread) refuses its tokens, fetched and then from revoked.pem', async () => {
  const dir = tempDir();
  const revoked = await idp.issueToken({ user: 'mallory' });
  const revokedBySha = await idp.issueToken({ user: 'mallory', format: 'pkiz' });
  const fine = await idp.issueToken({ user: 'alice' });
  idp.revokeIds([hashToken(revoked, 'md5').toUpperCase(), hashToken(revokedBySha, 'sha256')]);
  const first = await startApp(idp, { signing_dir: dir, hash_algorithms: 'md5,sha256' });
  try {
    assert.equal((await first.get({ 'x-auth-token': fine })).status, 200);
    for (const token of [revoked, revokedBySha]) {
      const { status, keystone } = await first.get({ 'x-auth-token': token });
      assert.equal(status, 401);
      assert.equal(keystone.error.reason, 'ERR_TOKEN_REVOKED');
    }
  } finally {
    await first.close();
  }
  assert.ok(statSync(join(dir, 'revoked.pem')).size > WORKER_THRESHOLD_BYTES, 'revoked.pem is large enough to be read on the worker');
  const fetches = idp.count('/v3/auth/tokens/OS-PKI/revoked');
  const second = await startApp(idp, { signing_dir: dir, hash_algorithms: 'md5,sha256' });
  try {
    assert.equal((await second.get({ 'x-auth-token': revoked })).status, 401);
    assert.equal((await second.get({ 'x-auth-token': revokedBySha })).status, 401);
    assert.equal((await second.get({ 'x-auth-token': fine })).status, 200);
    assert.equal(idp.count('/v3/auth/tokens/OS-PKI/revoked') - fetches, 0, 'the list came from revoked.pem');
    assert.equal(second.logger.lines.filter((line) => line.level === 'warn' || line.level === 'error').length, 0, second.logger.text());
  } finally {
    await second.close();
  }
});
