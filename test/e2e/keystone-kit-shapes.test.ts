import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { keystoneMissing } from '../helpers/keystone.mjs';
import { KeystoneApi, realKeystone } from '../helpers/keystone-api.js';

/**
 * The test kit's Fernet tokens against tokens of the run's real Keystone 22: same structure (version byte,
 * block layout and length for the same payload), so that tests written with the kit meet the shapes production
 * has. The JWS comparison is in jws-tokens.test.ts, beside the Keystone that signs JWS tokens.
 */
let idp: IdentityServer;
before(async () => {
  const missing = keystoneMissing();
  if (missing) throw new Error(`a real Keystone is needed: ${missing}`);
  idp = await startIdentityServer();
});
after(async () => {
  await idp?.close();
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
