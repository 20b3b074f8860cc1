import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { keystoneMissing, startKeystone, type RunningKeystone } from '../helpers/keystone.mjs';
import { KeystoneApi, realKeystone } from '../helpers/keystone-api.js';

/**
 * The test kit's Fernet and JWS tokens against tokens of a real Keystone 22: same structure (Fernet version
 * byte, block layout and length for the same payload; JWS header and claim names), so that tests written
 * with the kit meet the shapes production has.
 */
let idp: IdentityServer;
let jwsKeystone: RunningKeystone;
before(async () => {
  const missing = keystoneMissing();
  if (missing) throw new Error(`a real Keystone is needed: ${missing}`);
  idp = await startIdentityServer();
  jwsKeystone = await startKeystone({ provider: 'jws' });
});
after(async () => {
  await idp?.close();
  await jwsKeystone?.stop();
});

/** A project-scoped password token of Keystone's admin, with its body. */
async function adminToken(url: string, password: string) {
  const api = new KeystoneApi(url, password);
  return api.authenticate({ user: { name: 'admin', domain: { id: 'default' }, password } }, { project: { name: 'admin', domain: { id: 'default' } } });
}

function fernetLayout(token: string) {
  const bytes = Buffer.from(token, 'base64url');
  return { version: bytes[0], timestampSeconds: Number(bytes.readBigUInt64BE(1)), ciphertextBlocks: (bytes.length - 1 - 8 - 16 - 32) / 16, padded: token.endsWith('=') };
}

test("Fernet: the kit's token has the real Keystone's layout and length for the same kind of token (project-scoped, password, UUID ids)", async () => {
  const keystone = await realKeystone();
  try {
    const real = await adminToken(keystone.url, keystone.adminPassword);
    const kit = await idp.issueToken({ format: 'fernet', userId: real.body.token.user.id, projectId: real.body.token.project.id });
    const [r, k] = [fernetLayout(real.token), fernetLayout(kit)];
    assert.equal(r.version, 0x80);
    assert.equal(k.version, 0x80);
    assert.ok(Number.isInteger(r.ciphertextBlocks) && Number.isInteger(k.ciphertextBlocks), 'AES blocks after version, timestamp, IV; HMAC-SHA256 last');
    assert.equal(r.padded || k.padded, false, 'padding stripped, as Keystone does');
    assert.ok(Math.abs(k.timestampSeconds - r.timestampSeconds) < 600, 'a creation time of now');
    assert.equal(kit.length, real.token.length, `kit ${kit.length} characters, Keystone ${real.token.length}`);
    assert.match(kit.slice(0, 6), /^gAAAAA/);
    assert.equal(real.token.slice(0, 6), 'gAAAAA');
  } finally {
    await keystone.stop();
  }
});

test("JWS: the kit's token has the real Keystone's header, claim names and length", async () => {
  const real = await adminToken(jwsKeystone.url, jwsKeystone.adminPassword);
  const kit = await idp.issueToken({ format: 'jws', userId: real.body.token.user.id, projectId: real.body.token.project.id });
  const parts = (token: string) => token.split('.').map((part, i) => (i < 2 ? JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) : Buffer.from(part, 'base64url')));
  const [rh, rp, rs] = parts(real.token);
  const [kh, kp, ks] = parts(kit);
  assert.deepEqual(kh, rh);
  assert.deepEqual(rh, { alg: 'ES256', typ: 'JWT' });
  assert.deepEqual(Object.keys(kp).sort(), Object.keys(rp).sort());
  assert.equal(typeof kp.iat, typeof rp.iat);
  assert.equal(kp.exp - kp.iat, rp.exp - rp.iat, 'the default expiry of one hour');
  assert.equal(ks.length, rs.length, 'ES256 signature: r || s, 64 bytes');
  assert.ok(Math.abs(kit.length - real.token.length) <= 4, `kit ${kit.length} characters, Keystone ${real.token.length}`);
});
