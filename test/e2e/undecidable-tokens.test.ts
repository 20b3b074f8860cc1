import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeTlv } from '../../src/cms/der.js';
import { tokenToDer } from '../../src/token/format.js';
import { createTestPki, startIdentityServer, toPkizToken, type IdentityServer, type TestCertificate } from '../../src/testing/index.js';
import { startApp } from '../helpers/app.js';
import { build, partsOf } from '../helpers/variants.js';

/**
 * Issue 19, family 2: a token only fresher certificates could decide (another signer) is answered 503 inside the
 * refetch cooldown. The same token sent again must not be verified again, must not page an operator, and must
 * not change what anyone else gets.
 */

const CERTS = '/v3/OS-SIMPLE-CERT/certificates';

/** A PKIZ token of another signer, carrying 16 certificates (as much as a token may), distinct per `n`. */
function forged(idp: IdentityServer, signer: TestCertificate, n: number): string {
  const parts = partsOf(tokenToDer(idp.sign({ token: { n, user: { id: 'mallory' } } }, 'pki', signer)));
  parts.certificates = encodeTlv(0xa0, Buffer.concat(Array.from({ length: 16 }, () => signer.der)));
  return toPkizToken(build(parts));
}

test('the same undecidable token sent again inside the refetch cooldown gets the same 503 without being verified again; warned once per cooldown, never logged as an identity server outage', async () => {
  const idp = await startIdentityServer();
  const foreign = await createTestPki();
  const app = await startApp(idp, { auth_version: 'v3', certificateRefetchCooldown: 60 });
  try {
    assert.equal((await app.get({ 'x-auth-token': await idp.issueToken() })).status, 200); // certificates fetched now
    const first = forged(idp, foreign.signing, 1);
    const before = app.auth.stats.cmsVerifications;
    for (let i = 0; i < 4; i++) {
      const answer = await app.get({ 'x-auth-token': first });
      assert.equal(answer.status, 503);
      assert.equal(answer.keystone.error.reason, 'ERR_CERTIFICATE_REFETCH_PENDING');
      assert.ok(Number(answer.response.headers.get('retry-after')) >= 1);
    }
    assert.equal(app.auth.stats.cmsVerifications - before, 1, 'verified once, answered from the memo three times');
    // Another forged token is judged on its own (once), and again not twice.
    const second = forged(idp, foreign.signing, 2);
    assert.equal((await app.get({ 'x-auth-token': second })).status, 503);
    assert.equal((await app.get({ 'x-auth-token': second })).status, 503);
    assert.equal(app.auth.stats.cmsVerifications - before, 2);
    // Meanwhile a valid token of the real signer passes, and is verified.
    assert.equal((await app.get({ 'x-auth-token': await idp.issueToken({ format: 'pkiz', user: 'bob' }) })).status, 200);
    assert.equal(app.auth.stats.cmsVerifications - before, 3);
    assert.equal(idp.count(CERTS), 1, 'no refetch inside the cooldown');

    const pending = app.logger.lines.filter((line) => JSON.stringify(line.object).includes('ERR_CERTIFICATE_REFETCH_PENDING'));
    assert.equal(pending.length, 6, 'every refusal is still logged');
    assert.deepEqual(pending.map((line) => line.level), ['warn', 'info', 'info', 'info', 'info', 'info'], 'one warning per cooldown, info after');
    assert.ok(!app.logger.lines.some((line) => line.level === 'error'), `no error-level line:\n${app.logger.text()}`);
    assert.ok(!app.logger.text().includes('identity server unavailable'));
  } finally {
    await app.close();
    await idp.close();
  }
});

test('a rotated signer\'s token answered 503 from the memo is picked up after the cooldown; the memo never outlives the cooldown', async () => {
  const idp = await startIdentityServer();
  // A cooldown long enough for the new key to be made on a busy machine (RSA key generation can take seconds).
  const cooldownMs = 8000;
  const app = await startApp(idp, { auth_version: 'v3', certificateRefetchCooldown: cooldownMs / 1000 });
  try {
    const old = await idp.issueToken({ format: 'pkiz' });
    const fetchedBy = Date.now() + 0;
    assert.equal((await app.get({ 'x-auth-token': old })).status, 200);
    const cooldownEnds = Date.now() + cooldownMs; // the fetch began between fetchedBy and now
    await idp.rotateSigningCertificate();
    const fresh = await idp.issueToken({ format: 'pkiz', user: 'carol' });
    const before = app.auth.stats.cmsVerifications;
    assert.equal((await app.get({ 'x-auth-token': fresh })).status, 503);
    assert.equal((await app.get({ 'x-auth-token': fresh })).status, 503);
    assert.equal(app.auth.stats.cmsVerifications - before, 1, 'the second 503 came from the memo');
    assert.ok(Date.now() < fetchedBy + cooldownMs, 'still inside the cooldown');
    await sleep(cooldownEnds - Date.now() + 200);
    const healed = await app.get({ 'x-auth-token': fresh });
    assert.equal(healed.status, 200, 'after the cooldown the token is judged again, the certificates refetched');
    assert.equal(healed.seen['x-user-name'], 'carol');
    assert.equal(idp.count(CERTS), 2, 'one refetch');
    // A second cooldown warns again (once).
    const warnings = app.logger.lines.filter((line) => line.level === 'warn' && JSON.stringify(line.object).includes('ERR_CERTIFICATE_REFETCH_PENDING'));
    assert.equal(warnings.length, 1);
  } finally {
    await app.close();
    await idp.close();
  }
});
