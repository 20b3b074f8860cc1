// Audit ids that are not Keystone's 22-character form (issue 23): a UUID with dashes, 32 hex digits, padded
// base64, 22 characters whose last one has non-zero spare bits, non-ASCII (raw and \u-escaped, as Python's
// json.dumps writes it), beside Keystone's own. Each is matched exactly (case and all) through the middleware;
// a list of them is held in byte tables, not strings (RevokedSet.counts); the rollback merge keeps them. Tokens
// and lists are signed by python3-keystoneclient (cms_sign_token, cms_sign_text) with the identity server's key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { tokenBody } from '../../src/testing/index.js';
import { startApp } from '../helpers/app.js';
import { keystoneclientSign } from '../helpers/keystoneclient.js';
import { cert, idp, key, useKeystoneclientSigner } from '../helpers/keystoneclient-signer.js';

useKeystoneclientSigner();

/** Python's isoformat as Keystone wrote `expires` (microseconds, "Z"). */
const iso = (date: Date) => date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** A JSON string as Python's json.dumps writes it (ensure_ascii: non-ASCII as \u escapes). */
const pythonString = (text: string) => JSON.stringify(text).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

interface Entry {
  id: string;
  expires: Date;
  audit_id: string;
  /** The audit id written with its non-ASCII characters raw (UTF-8), not escaped. */
  raw?: boolean;
}

async function signedList(entries: Entry[]): Promise<string> {
  const text = `{"revoked": [${entries.map((e) => `{"id": "${e.id}", "expires": "${iso(e.expires)}", "audit_id": ${e.raw ? JSON.stringify(e.audit_id) : pythonString(e.audit_id)}}`).join(', ')}]}`;
  const [pem] = await keystoneclientSign([{ text, cert, key, md: 'sha256', form: 'text' }]);
  return pem!;
}

/** PKI tokens (keystoneclient's cms_sign_token) whose one audit id is each of `auditIds`. */
async function tokensWithAuditIds(auditIds: string[]): Promise<string[]> {
  return keystoneclientSign(
    auditIds.map((auditId, i) => {
      const body = tokenBody({ user: `odd-${i}` }) as { token: { audit_ids: string[] } };
      body.token.audit_ids = [auditId];
      return { text: JSON.stringify(body), cert, key, md: 'sha256' as const, form: 'pki' as const };
    }),
  );
}

const canonical = () => randomBytes(16).toString('base64url');
const filler = (n: number): Entry[] => Array.from({ length: n }, () => ({ id: randomBytes(16).toString('hex'), expires: new Date(Date.now() + 86_400_000), audit_id: canonical() }));

/** Listed audit ids of every shape, and for each a near one that is not listed. */
function oddCases(): { listed: { auditId: string; raw?: boolean; odd: boolean }[]; near: string[] } {
  const uuid = randomUUID();
  const hex = randomBytes(16).toString('hex');
  const padded = randomBytes(16).toString('base64');
  const keystone = canonical().slice(0, 21) + 'A'; // canonical: the last character's 4 spare bits are zero
  const spare = keystone.slice(0, 21) + 'B'; // the same 16 bytes to a lenient decoder, but not the same id
  const unicode = `äudit-ïd-${randomBytes(4).toString('hex')}`;
  const unicodeRaw = `ÄUDIT-€-${randomBytes(4).toString('hex')}`;
  const other = canonical();
  return {
    listed: [
      { auditId: uuid, odd: true },
      { auditId: hex, odd: true },
      { auditId: padded, odd: true },
      { auditId: spare, odd: true },
      { auditId: unicode, odd: true },
      { auditId: unicodeRaw, raw: true, odd: true },
      { auditId: other, odd: false },
    ],
    near: [uuid.toUpperCase(), uuid.replace(/-/g, ''), hex.toUpperCase(), padded.replace(/=+$/, ''), keystone, unicode.toUpperCase(), unicodeRaw.toLowerCase(), other.toLowerCase() === other ? other.toUpperCase() : other.toLowerCase()],
  };
}

for (const size of [0, 20_000]) {
  test(`audit ids of any shape on the list (${size ? `beside ${size.toLocaleString('en')} Keystone entries, read on the worker` : 'a small list'}): a token carrying one exactly is 401, one carrying a near one is 200; held in byte tables`, async () => {
    const { listed, near } = oddCases();
    const hour = new Date(Date.now() + 3600_000);
    const list = await signedList([...filler(size), ...listed.map(({ auditId, raw }) => ({ id: randomBytes(16).toString('hex'), expires: hour, audit_id: auditId, raw }))]);
    const revokedTokens = await tokensWithAuditIds(listed.map((l) => l.auditId));
    const nearTokens = await tokensWithAuditIds(near);
    const app = await startApp(idp, { auth_version: 'v3', revocation_cache_time: 3600 });
    try {
      idp.serveRevocationList(list);
      const entries = await app.auth.protocol.revocations.refresh();
      // The odd ids are in tables of their own, none of them a string: the structure issue 23 asks for.
      assert.deepEqual(entries.auditIds.counts, { decoded: size + 1, odd: listed.filter((l) => l.odd).length });
      assert.equal('others' in entries.auditIds.built, false);
      for (const [i, token] of revokedTokens.entries()) {
        const { status, keystone } = await app.get({ 'x-auth-token': token });
        assert.equal(status, 401, `revoked by audit id ${JSON.stringify(listed[i]!.auditId)}`);
        assert.equal(keystone.error.reason, 'ERR_TOKEN_REVOKED');
      }
      for (const [i, token] of nearTokens.entries()) {
        assert.equal((await app.get({ 'x-auth-token': token })).status, 200, `not listed: audit id ${JSON.stringify(near[i])}`);
      }
    } finally {
      idp.serveRevocationList(undefined);
      await app.close();
    }
  });
}

test('a newer list that drops odd audit ids before their expires does not un-revoke them (the rollback merge keeps odd ids), on the worker', async () => {
  const { listed } = oddCases();
  const hour = new Date(Date.now() + 3600_000);
  const base = filler(20_000);
  // With an odd audit id whose entry has expired: not kept once a list omits it.
  const expiredAudit = randomUUID();
  const listA = await signedList([
    ...base,
    ...listed.map(({ auditId, raw }) => ({ id: randomBytes(16).toString('hex'), expires: hour, audit_id: auditId, raw })),
    { id: randomBytes(16).toString('hex'), expires: new Date(Date.now() - 60_000), audit_id: expiredAudit },
  ]);
  const listB = await signedList([...base, ...filler(3), { id: randomBytes(16).toString('hex'), expires: hour, audit_id: randomUUID() }]);
  const tokens = await tokensWithAuditIds(listed.map((l) => l.auditId));
  const [expiredToken] = await tokensWithAuditIds([expiredAudit]);
  const app = await startApp(idp, { auth_version: 'v3', revocation_cache_time: 3600 });
  try {
    idp.serveRevocationList(listA);
    const a = await app.auth.protocol.revocations.refresh();
    assert.ok(listed.every((l) => a.hasAuditId(l.auditId)) && a.hasAuditId(expiredAudit));
    idp.serveRevocationList(listB);
    const b = await app.auth.protocol.revocations.refresh();
    assert.deepEqual(b.auditIds.counts, { decoded: 20_003 + 1, odd: listed.filter((l) => l.odd).length + 1 }, 'the kept odd ids, and B\'s own, in tables');
    for (const [i, token] of tokens.entries()) {
      const { status, keystone } = await app.get({ 'x-auth-token': token });
      assert.equal(status, 401, `still revoked: ${JSON.stringify(listed[i]!.auditId)}`);
      assert.equal(keystone.error.reason, 'ERR_TOKEN_REVOKED');
    }
    assert.equal((await app.get({ 'x-auth-token': expiredToken! })).status, 200, 'an entry past its expires is not kept');
    const warnings = app.logger.lines.filter((line) => line.level === 'warn' && new RegExp(`drops ${listed.length} entries that have not expired`).test(line.message));
    assert.equal(warnings.length, 1, app.logger.text());
  } finally {
    idp.serveRevocationList(undefined);
    await app.close();
  }
});
