import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, lstatSync, rmSync, statSync, symlinkSync } from 'node:fs';
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
  // A restart while the identity server answers 500: signing_dir stands in (certificates and list), with a warning.
  const fetches = idp.count('/v3/auth/tokens/OS-PKI/revoked');
  await idp.setFault('error');
  const second = await startApp(idp, { signing_dir: dir, hash_algorithms: 'md5,sha256' });
  try {
    assert.equal((await second.get({ 'x-auth-token': revoked })).status, 401);
    assert.equal((await second.get({ 'x-auth-token': revokedBySha })).status, 401);
    assert.equal((await second.get({ 'x-auth-token': fine })).status, 200);
    assert.ok(idp.count('/v3/auth/tokens/OS-PKI/revoked') - fetches <= 1, 'at most one try at the identity server');
    assert.match(second.logger.text(), /using revoked\.pem from signing_dir until it can/);
    assert.equal(second.auth.health().revocationList?.source, 'signing_dir');
  } finally {
    await idp.setFault(null);
    await second.close();
  }
});

test('a large list cut off mid-answer, or over revocationListMaxBytes: a typed error, the current list kept, no file written; identityResponseMaxBytes does not apply to it', async () => {
  const dir = tempDir();
  const revoked = await idp.issueToken({ user: 'mallory' });
  idp.revokeIds([hashToken(revoked, 'md5')]);
  // identityResponseMaxBytes far below the list's size: the list has its own bound.
  const app = await startApp(idp, { signing_dir: dir, identityResponseMaxBytes: 64 * 1024 });
  try {
    assert.equal((await app.get({ 'x-auth-token': revoked })).status, 401);
    const list = app.auth.protocol.revocations;
    const written = statSync(join(dir, 'revoked.pem')).mtimeMs;
    const size = list.size;
    assert.ok(size > 10_000);
    await idp.setFault('truncated');
    await assert.rejects(list.refresh(), (error: Error & { code?: string }) => error.code === 'ERR_IDENTITY_UNAVAILABLE' || error.code === 'ERR_IDENTITY_RESPONSE');
    await idp.setFault(null);
    assert.equal(list.size, size, 'the current list is kept');
    assert.equal(statSync(join(dir, 'revoked.pem')).mtimeMs, written, 'revoked.pem untouched');
    assert.equal((await app.get({ 'x-auth-token': revoked })).status, 401);
  } finally {
    await idp.setFault(null);
    await app.close();
  }
  const small = await startApp(idp, { signing_dir: tempDir(), revocationListMaxBytes: 512 * 1024 });
  try {
    const { status, keystone } = await small.get({ 'x-auth-token': revoked });
    assert.equal(status, 503);
    assert.equal(keystone.error.reason, 'ERR_REVOCATION_LIST_STALE');
    assert.ok(small.logger.text().includes('revocationListMaxBytes'), small.logger.text());
  } finally {
    await small.close();
  }
});

test('an unchanged large list is not written again, only its time renewed; a changed one is written', async () => {
  const dir = tempDir();
  const app = await startApp(idp, { signing_dir: dir });
  try {
    const list = app.auth.protocol.revocations;
    await list.refresh();
    const file = join(dir, 'revoked.pem');
    const first = statSync(file);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await list.refresh(); // the same list, byte for byte (RSA signatures are deterministic)
    const second = statSync(file);
    assert.equal(second.ino, first.ino, 'the same file: not rewritten');
    assert.ok(second.mtimeMs > first.mtimeMs, 'its time renewed, so that a restart uses it');
    // Another file under the same name: a symbolic link to a copy. Renewing its time would follow the link
    // (and trust what it points at); the list is written again instead, replacing the link.
    const elsewhere = join(tempDir(), 'copy.pem');
    copyFileSync(file, elsewhere);
    const copied = statSync(elsewhere).mtimeMs;
    rmSync(file);
    symlinkSync(elsewhere, file);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await list.refresh();
    assert.ok(!lstatSync(file).isSymbolicLink(), 'the link was replaced by a file of ours');
    assert.equal(statSync(elsewhere).mtimeMs, copied, 'the link target was not touched');
    const size = list.size;
    const before = statSync(file);
    idp.revokeIds([randomBytes(16).toString('hex')]);
    await list.refresh();
    const third = statSync(file);
    assert.notEqual(third.ino, before.ino, 'a changed list is written (a new file renamed into place)');
    assert.equal(list.size, size + 1);
  } finally {
    await app.close();
  }
  // A restart with the identity server answering 500 falls back to the file: its renewed time counts.
  await idp.setFault('error');
  const again = await startApp(idp, { signing_dir: dir });
  try {
    await again.auth.protocol.revocations.ids();
    assert.equal(again.auth.protocol.revocations.source, 'signing_dir', 'read from revoked.pem');
  } finally {
    await idp.setFault(null);
    await again.close();
  }
});
