import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { startApp } from '../helpers/app.js';
import { tmpfs } from '../helpers/filesystems.js';

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer({ slowMs: 3000 });
});
after(async () => {
  await idp.setFault(null);
  await idp.close();
});

test('identity server slower than http_connect_timeout: 503 (not a hang, not a pass), then recovery', async () => {
  const app = await startApp(idp, { auth_version: 'v3', http_connect_timeout: 1 });
  try {
    await idp.setFault('slow');
    const { status, keystone } = await app.get({ 'x-auth-token': await idp.issueToken() });
    assert.equal(status, 503);
    assert.equal(keystone.error.reason, 'ERR_IDENTITY_UNAVAILABLE');
    await idp.setFault(null);
    await new Promise((resolve) => setTimeout(resolve, 2500)); // let the slow answers drain
    assert.equal((await app.get({ 'x-auth-token': await idp.issueToken() })).status, 200);
  } finally {
    await idp.setFault(null);
    await app.close();
  }
});

test('identity server going down mid-load: valid tokens keep passing on what is known, invalid ones never pass', async () => {
  const app = await startApp(idp, { auth_version: 'v3', revocation_cache_time: 30 });
  try {
    const valid = await Promise.all(Array.from({ length: 40 }, (_, i) => idp.issueToken({ user: `v${i}`, format: i % 2 ? 'pki' : 'pkiz' })));
    const revoked = await idp.issueToken({ user: 'revoked' });
    idp.revoke(revoked);
    const online = await idp.issueToken({ user: 'online', format: 'uuid' });
    const outcomes: string[] = [];
    for (let i = 0; i < valid.length; i++) {
      if (i === 10) await idp.setFault('down');
      const token = valid[i]!;
      const tampered = token.slice(0, 300) + (token[300] === 'A' ? 'B' : 'A') + token.slice(301);
      const [good, bad, gone, uuid] = await Promise.all([
        app.get({ 'x-auth-token': token }),
        app.get({ 'x-auth-token': tampered }),
        app.get({ 'x-auth-token': revoked }),
        app.get({ 'x-auth-token': online }),
      ]);
      // Certificates and a fresh revocation list are in memory: PKI tokens are decided without the server.
      assert.equal(good.status, 200, `valid token ${i}`);
      assert.equal(bad.status, 401, `tampered token ${i}`);
      assert.equal(gone.status, 401, `revoked token ${i}`);
      // The online token was validated (and cached) before the outage only if i < 10 ran first; else 503.
      outcomes.push(String(uuid.status));
      assert.ok(uuid.status === 200 || uuid.status === 503, `online token got ${uuid.status}`);
    }
    assert.equal(outcomes[0], '200');
  } finally {
    await idp.setFault(null);
    await app.close();
  }
});

test('signing_dir on a full disk: certificates are kept in memory, nothing half-written stays behind', async (t) => {
  const disk = tmpfs('size=16k,mode=0700');
  if (typeof disk === 'string') {
    t.diagnostic(`NOT RUN: ${disk}`);
    t.skip(disk);
    return;
  }
  try {
    // Fill the file system.
    spawnSync('dd', ['if=/dev/zero', `of=${join(disk.path, 'filler')}`, 'bs=1k', 'count=64'], { stdio: 'ignore' });
    const app = await startApp(idp, { auth_version: 'v3', signing_dir: disk.path });
    try {
      const { status } = await app.get({ 'x-auth-token': await idp.issueToken() });
      assert.equal(status, 200);
      assert.match(app.logger.text(), /cannot write certificates to signing_dir.*ENOSPC|ENOSPC/s);
      assert.deepEqual(readdirSync(disk.path).filter((name) => name !== 'filler'), [], 'no partial or temporary file left');
    } finally {
      await app.close();
    }
  } finally {
    disk.cleanup();
  }
});

test('signing_dir made read-only while running: requests keep passing; a certificate rotation still heals in memory', async (t) => {
  const disk = tmpfs('size=1m,mode=0700');
  if (typeof disk === 'string') {
    t.diagnostic(`NOT RUN: ${disk}`);
    t.skip(disk);
    return;
  }
  const rotating = await startIdentityServer();
  const app = await startApp(rotating, { auth_version: 'v3', signing_dir: disk.path, certificateRefetchCooldown: 0 });
  try {
    assert.equal((await app.get({ 'x-auth-token': await rotating.issueToken() })).status, 200);
    const before = readFileSync(join(disk.path, 'signing_cert.pem'), 'utf8');
    assert.equal(spawnSync('mount', ['-o', 'remount,ro', disk.path]).status, 0);
    await rotating.rotateSigningCertificate();
    assert.equal((await app.get({ 'x-auth-token': await rotating.issueToken() })).status, 200);
    assert.match(app.logger.text(), /EROFS/);
    assert.equal(readFileSync(join(disk.path, 'signing_cert.pem'), 'utf8'), before, 'the old file is intact, not half-written');
    assert.deepEqual(readdirSync(disk.path).sort(), ['cacert.pem', 'revoked.pem', 'signing_cert.pem']);
  } finally {
    await app.close();
    await rotating.close();
    disk.cleanup();
  }
});

test('a PEM file truncated in signing_dir by a crash of another tool is replaced, not trusted', async () => {
  const { tempDir } = await import('../helpers/app.js');
  const dir = tempDir();
  writeFileSync(join(dir, 'signing_cert.pem'), idp.pki.signing.pem.slice(0, 200));
  writeFileSync(join(dir, 'cacert.pem'), idp.pki.ca.pem);
  const app = await startApp(idp, { auth_version: 'v3', signing_dir: dir });
  try {
    assert.equal((await app.get({ 'x-auth-token': await idp.issueToken() })).status, 200);
    assert.equal(readFileSync(join(dir, 'signing_cert.pem'), 'utf8'), idp.pki.signing.pem);
  } finally {
    await app.close();
  }
});

test('TLS to the identity server: verified against cafile, refused without it (503), insecure only when asked', async () => {
  const { issueCertificate } = await import('../../src/testing/index.js');
  const { tempDir } = await import('../helpers/app.js');
  const tlsCa = await issueCertificate({ commonName: 'TLS test CA', ca: true });
  const serverCert = await issueCertificate({ commonName: '127.0.0.1', issuer: tlsCa, extKeyUsage: ['1.3.6.1.5.5.7.3.1'], keyUsage: ['digitalSignature', 'keyEncipherment'], subjectAltNames: { ip: ['127.0.0.1'] } });
  const secure = await startIdentityServer({ tls: { cert: serverCert.pem, key: serverCert.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string } });
  const dir = tempDir();
  writeFileSync(join(dir, 'ca.pem'), tlsCa.pem);
  try {
    assert.match(secure.url, /^https:/);
    const token = await secure.issueToken();
    for (const [options, expected] of [[{ cafile: join(dir, 'ca.pem') }, 200], [{}, 503], [{ insecure: true }, 200]] as const) {
      const app = await startApp(secure, { auth_version: 'v3', ...options });
      try {
        assert.equal((await app.get({ 'x-auth-token': token })).status, expected, JSON.stringify(options));
      } finally {
        await app.close();
      }
    }
  } finally {
    await secure.close();
  }
});
