// Committed bytes made by keystoneclient itself (fixtures/keystoneclient/generate.py): they verify offline, without
// Python; the live comparison with keystoneclient is in test/interop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { verifySignedToken } from '../../src/index.js';
import { inspectToken } from '../../src/cli/inspect.js';
import { revokedIds } from '../../src/signing/revocation-worker.js';
import { derToPkiToken, tokenToDer } from '../../src/token/format.js';
import { hashToken } from '../../src/token/hash.js';
import { FIXTURES, material } from '../helpers/fixtures.js';

const DIR = join(FIXTURES, 'keystoneclient');
const read = (name: string) => readFileSync(join(DIR, name), 'utf8');

test('tokens keystoneclient signed (cms_sign_token, pkiz_sign; SHA-1 and SHA-256; v2.0 and v3) verify, with the body it signed', () => {
  const names = readdirSync(DIR).filter((name) => /\.(pki|pkiz)$/.test(name));
  assert.equal(names.length, 8);
  for (const name of names) {
    const verified = verifySignedToken(read(name), material());
    const body = readFileSync(join(FIXTURES, 'bodies', `${name.split('-')[0]}.json`), 'utf8');
    assert.equal(Buffer.from(verified.content).toString('utf8'), body, name);
    assert.equal(verified.digestAlgorithm, name.includes('sha1') ? 'sha1' : 'sha256', name);
  }
});

test('a revocation list keystoneclient signed (cms_sign_text) names a token by id and by audit id; the PKI form of the revoked PKIZ token is caught by its audit id', async () => {
  for (const md of ['sha1', 'sha256']) {
    const verified = verifySignedToken(read(`revoked-${md}.pem`), material());
    const list = await revokedIds(verified.content);
    const revoked = read('v3-sha1.pkiz');
    assert.ok(list.has(hashToken(revoked)), 'by id');
    assert.equal(list.withoutAuditId, 1, 'one pre-Kilo entry');
    const rewrapped = derToPkiToken(tokenToDer(revoked));
    assert.ok(!list.has(hashToken(rewrapped)), 'the PKI form has another id');
    const body = verifySignedToken(rewrapped, material()).json() as { token: { audit_ids: string[] } };
    assert.ok(list.hasAuditId(body.token.audit_ids[0]!), 'but the same audit id');
    assert.ok(!list.hasAuditId(body.token.audit_ids[0]!.toLowerCase()), 'audit ids are compared exactly');
  }
});

test('inspect shows the anatomy of a real PKIZ token: zlib of the PEM text', () => {
  const report = inspectToken({ token: read('v3-sha256.pkiz') }) as { pkiz: { layers: string; pemFirstLine: string }; cms: unknown[] };
  assert.match(report.pkiz.layers, /zlib \(\d+ bytes, header level class 2: default \(keystoneclient: 6\)\) -> PEM text \(\d+ chars, "-----BEGIN CMS-----"\) -> DER/);
  assert.equal(report.pkiz.pemFirstLine, '-----BEGIN CMS-----');
  assert.equal(report.cms.length, 1);
});
