// Rollback (issue 19, family 10): a list that verifies but no longer names a revoked token that has not expired
// (an older list replayed on a plain-HTTP identity_uri, or served by a caching proxy) must not un-revoke it.
// Keystone lists a revoked token until it expires: each entry is kept until its `expires`, and such a list is
// warned about. The lists here are signed by python3-keystoneclient (cms_sign_text, as Keystone's PKI provider
// signed them), with the identity server's own key, and served by it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashToken } from '../../src/index.js';
import { parseSignedData } from '../../src/cms/signed-data.js';
import { tokenToDer } from '../../src/token/format.js';
import { startApp, tempDir } from '../helpers/app.js';
import { keystoneclientSign } from '../helpers/keystoneclient.js';
import { cert, idp, key, useKeystoneclientSigner } from '../helpers/keystoneclient-signer.js';

useKeystoneclientSigner();

interface Entry {
  id: string;
  expires: Date;
  audit_id?: string;
}

/** Python's isoformat as Keystone wrote `expires` (microseconds, "Z"). */
const iso = (date: Date) => date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** `filler` entries (random ids and audit ids, expiring in a day) and `entries`, signed by keystoneclient. */
async function signedList(entries: Entry[], filler: Entry[]): Promise<string> {
  const all = [...filler, ...entries];
  const content = `{"revoked": [${all.map((e) => `{"id": "${e.id}", "expires": "${iso(e.expires)}"${e.audit_id ? `, "audit_id": "${e.audit_id}"` : ''}}`).join(', ')}]}`;
  const [pem] = await keystoneclientSign([{ text: content, cert, key, md: 'sha256', form: 'text' }]);
  return pem!;
}

const fillerOf = (n: number): Entry[] =>
  Array.from({ length: n }, () => ({ id: randomBytes(16).toString('hex'), expires: new Date(Date.now() + 86_400_000), audit_id: randomBytes(16).toString('base64url') }));

/** The first audit id of a token the identity server issued (read from its signed body, unverified). */
function auditIdOf(token: string): string {
  const body = JSON.parse(Buffer.from(parseSignedData(tokenToDer(token)).content).toString('utf8'));
  return (body.token ?? body.access.token).audit_ids[0];
}

for (const size of [0, 20_000]) {
  for (const replay of ['a newer list without it', 'an older list replayed'] as const) {
    test(`a token revoked in list A stays refused when ${replay} comes (${size ? `${size.toLocaleString('en')} more entries, read on the worker` : 'small lists'}): kept until its expires, warned`, async () => {
      const victim = await idp.issueToken({ user: 'victim' });
      const byAudit = await idp.issueToken({ user: 'victim-2', format: 'pkiz' });
      const expired = await idp.issueToken({ user: 'expired-entry' });
      const hour = new Date(Date.now() + 3600_000);
      const filler = fillerOf(size);
      // An older list (before the revocations), then A (with them), then B (a newer one without them).
      const older = replay === 'an older list replayed' ? await signedList([], filler) : undefined;
      const listA = await signedList(
        [
          { id: hashToken(victim, 'md5'), expires: hour, audit_id: auditIdOf(victim) },
          { id: createHash('md5').update('unrelated').digest('hex'), expires: hour, audit_id: auditIdOf(byAudit) },
          // An entry whose expires has passed (Keystone drops these itself): not kept once a list omits it.
          { id: hashToken(expired, 'md5'), expires: new Date(Date.now() - 60_000) },
        ],
        filler,
      );
      const listB = older ?? (await signedList([], [...filler, ...fillerOf(3)]));
      const app = await startApp(idp, { auth_version: 'v3', revocation_cache_time: 3600 });
      try {
        idp.serveRevocationList(listA);
        const a = await app.auth.protocol.revocations.refresh();
        assert.ok(a.has(hashToken(victim, 'md5')) && a.hasAuditId(auditIdOf(byAudit)) && a.has(hashToken(expired, 'md5')));
        // (No request before B: a refused token would be answered from the token cache, whatever the list says.)
        idp.serveRevocationList(listB);
        await app.auth.protocol.revocations.refresh();
        for (const token of [victim, byAudit]) {
          const { status, keystone } = await app.get({ 'x-auth-token': token });
          assert.equal(status, 401, 'still revoked');
          assert.equal(keystone.error.reason, 'ERR_TOKEN_REVOKED');
        }
        assert.equal((await app.get({ 'x-auth-token': expired })).status, 200, 'an entry past its expires is not kept');
        const warnings = app.logger.lines.filter((line) => line.level === 'warn' && /drops 2 entries that have not expired/.test(line.message));
        assert.equal(warnings.length, 1, app.logger.text());
        // And again: A's entries are still kept when B is fetched once more, without a second warning about them.
        await app.auth.protocol.revocations.refresh();
        assert.equal((await app.get({ 'x-auth-token': victim })).status, 401);
        assert.equal(app.logger.lines.filter((line) => line.level === 'warn' && /drops \d+ entries/.test(line.message)).length, 1);
      } finally {
        idp.serveRevocationList(undefined);
        await app.close();
      }
    });
  }
}

for (const size of [0, 20_000]) {
  test(`an older list replayed is not written to revoked.pem (${size ? `${size.toLocaleString('en')} more entries, read on the worker` : 'small lists'}): the file keeps the newer list, and a fallback start refuses the revoked token`, async () => {
    const victim = await idp.issueToken({ user: 'victim' });
    const hour = new Date(Date.now() + 3600_000);
    const filler = fillerOf(size);
    const older = await signedList([], filler);
    const newer = await signedList([{ id: hashToken(victim, 'md5'), expires: hour, audit_id: auditIdOf(victim) }], filler);
    const signingDir = tempDir('kat-signing-');
    const revokedPem = () => readFileSync(join(signingDir, 'revoked.pem'), 'utf8').trim();
    const app = await startApp(idp, { auth_version: 'v3', revocation_cache_time: 3600, signing_dir: signingDir });
    try {
      idp.serveRevocationList(newer);
      await app.auth.protocol.revocations.refresh();
      assert.equal(revokedPem(), newer.trim(), 'the newer list is written');
      idp.serveRevocationList(older);
      await app.auth.protocol.revocations.refresh();
      assert.equal(revokedPem(), newer.trim(), 'the older list is not written over it');
      const warning = app.logger.lines.find((line) => line.level === 'warn' && /drops 1 entries that have not expired/.test(line.message));
      assert.match(warning?.message ?? app.logger.text(), /revoked\.pem keeps the list it holds/);
      // Fetched again: still not written (and not warned about again).
      await app.auth.protocol.revocations.refresh();
      assert.equal(revokedPem(), newer.trim());
      assert.equal((await app.get({ 'x-auth-token': victim })).status, 401);
    } finally {
      idp.serveRevocationList(undefined);
      await app.close();
    }
    // The identity server unreachable: a start on that signing_dir reads the newer list, and refuses the token.
    await idp.setFault('down');
    const fallback = await startApp(idp, { auth_version: 'v3', revocation_cache_time: 3600, signing_dir: signingDir });
    try {
      const { status, keystone } = await fallback.get({ 'x-auth-token': victim });
      assert.equal(status, 401, JSON.stringify(keystone));
      assert.equal(keystone.error.reason, 'ERR_TOKEN_REVOKED');
      assert.equal(fallback.auth.health().revocationList?.source, 'signing_dir');
    } finally {
      await idp.setFault(null);
      await fallback.close();
    }
  });
}
