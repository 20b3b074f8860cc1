import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestPki, issueCertificate, startIdentityServer } from '../../src/testing/index.js';
import { startApp } from '../helpers/app.js';

const CERTS = '/v3/OS-SIMPLE-CERT/certificates';

for (const sameSerial of [true, false]) {
  test(`a rotation ${sameSerial ? 'that keeps issuer and serial (keystone-manage pki_setup again)' : 'to a new serial'} heals: 503 inside the refetch cooldown, never 401, never cached; 200 after one refetch`, async () => {
    const idp = await startIdentityServer();
    const app = await startApp(idp, { auth_version: 'v3', certificateRefetchCooldown: 2 });
    try {
      assert.equal((await app.get({ 'x-auth-token': await idp.issueToken() })).status, 200); // certificates fetched now
      const before = idp.pki.signing;
      const after = await idp.rotateSigningCertificate({ sameSerial });
      assert.equal(after.serial.equals(before.serial) && after.issuerName.equals(before.issuerName), sameSerial);
      assert.equal(after.subjectName.equals(before.subjectName), sameSerial, 'pki_setup reissues under the same subject');
      assert.ok(!after.publicKey.export({ type: 'spki', format: 'der' }).equals(before.publicKey.export({ type: 'spki', format: 'der' })), 'with a new key');
      const fresh = await idp.issueToken({ format: 'pkiz' });
      const early = await app.get({ 'x-auth-token': fresh });
      assert.equal(early.status, 503, 'undecidable until the cooldown lets a refetch happen');
      assert.equal(early.keystone.error.reason, 'ERR_CERTIFICATE_REFETCH_PENDING');
      assert.ok(Number(early.response.headers.get('retry-after')) <= 2);
      await sleep(2100);
      const mark = idp.count(CERTS);
      const healed = await Promise.all(Array.from({ length: 5 }, () => app.get({ 'x-auth-token': fresh })));
      assert.deepEqual(healed.map((r) => r.status), [200, 200, 200, 200, 200], 'not cached as invalid, healed by the refetch');
      assert.equal(idp.count(CERTS) - mark, 1, 'one refetch');
      assert.equal(healed[0]!.seen['x-user-id'], 'alice-id');
    } finally {
      await app.close();
      await idp.close();
    }
  });
}

test('a real rotation heals within one cooldown while forged-signer tokens arrive all the time; valid tokens never get 401', async () => {
  const idp = await startIdentityServer();
  const cooldown = 2;
  const app = await startApp(idp, { auth_version: 'v3', certificateRefetchCooldown: cooldown });
  const foreign = await createTestPki();
  // A forger's certificate naming the real issuer and serial (a CA of their own with the same name).
  const fakeCa = await issueCertificate({ commonName: 'Keystone Test CA', organization: 'keystone-authtoken testing', ca: true });
  const sameSid = await issueCertificate({ commonName: 'Keystone Signing', issuer: fakeCa, serial: idp.pki.signing.serial });
  let stop = false;
  const forgedStatuses = new Map<number, number>();
  const forger = (async () => {
    for (let i = 0; !stop && i < 200; i++) {
      // Each forgery is new (never cached): it names an unknown signer, or the real issuer and serial with another key.
      const forged = i % 2 ? idp.sign({ token: { user: { id: `x${i}` } } }, 'pki', foreign.signing) : idp.sign({ token: { n: i } }, 'pkiz', sameSid);
      const { status } = await app.get({ 'x-auth-token': forged });
      forgedStatuses.set(status, (forgedStatuses.get(status) ?? 0) + 1);
      await sleep(100);
    }
  })();
  try {
    assert.equal((await app.get({ 'x-auth-token': await idp.issueToken() })).status, 200);
    await sleep(700);
    await idp.rotateSigningCertificate({ sameSerial: true });
    const rotatedAt = Date.now();
    const fresh = await idp.issueToken();
    let healedAt: number | undefined;
    const statuses: number[] = [];
    while (Date.now() - rotatedAt < (cooldown + 3) * 1000) {
      const { status } = await app.get({ 'x-auth-token': fresh });
      statuses.push(status);
      if (status === 200) {
        healedAt = Date.now();
        break;
      }
      await sleep(150);
    }
    assert.ok(healedAt !== undefined, `healed (statuses ${statuses.join(',')})`);
    assert.ok(healedAt - rotatedAt <= cooldown * 1000 + 600, `healed ${healedAt - rotatedAt} ms after the rotation (cooldown ${cooldown} s)`);
    assert.ok(statuses.every((s) => s === 503 || s === 200), `the valid token was never refused: ${statuses.join(',')}`);
    console.log(`rotation under forged-signer traffic: healed ${healedAt - rotatedAt} ms after rotating (cooldown ${cooldown * 1000} ms); forgeries answered ${JSON.stringify([...forgedStatuses])}`);
  } finally {
    stop = true;
    await forger;
    await app.close();
    await idp.close();
  }
  assert.equal(forgedStatuses.get(200), undefined, 'no forgery ever passed');
});
