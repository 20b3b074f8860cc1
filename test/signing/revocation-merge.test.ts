// Entries kept until their expires (revocation-merge.ts) against a model: a Map of id -> expiry. Each `expires`
// is read from the list as Keystone wrote it; a merged set holds every id of the new list, and every id of the
// current one whose expiry has not passed; nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { revocationCodec, UNKNOWN_EXPIRY } from '../../src/signing/revocation-codec.js';
import { mergeRevocations } from '../../src/signing/revocation-merge.js';
import { RevocationEntries } from '../../src/signing/revoked-set.js';
import { seeded } from '../helpers/seeded.js';

const codec = revocationCodec();
const NOW = Math.floor(Date.UTC(2030, 0, 1) / 1000);

const md5 = (i: number) => createHash('md5').update(`token ${i}`).digest('hex');
const audit = (i: number) => createHash('sha1').update(`audit ${i}`).digest().subarray(0, 16).toString('base64url');

interface ModelEntry {
  i: number;
  expires: number;
}

function listOf(entries: ModelEntry[]): RevocationEntries {
  const json = `{"revoked": [${entries
    .map((e) => {
      const id = e.i % 7 === 6 ? `not-hex-${e.i}` : e.i % 11 === 10 ? createHash('sha256').update(`t${e.i}`).digest('hex') : md5(e.i);
      return `{"id": "${id}", "expires": "${new Date(e.expires * 1000).toISOString().replace('Z', '000Z')}", "audit_id": "${audit(e.i)}"}`;
    })
    .join(', ')}]}`;
  return new RevocationEntries(codec.scanContent(Buffer.from(json)));
}

function idOf(i: number): string {
  return i % 7 === 6 ? `not-hex-${i}` : i % 11 === 10 ? createHash('sha256').update(`t${i}`).digest('hex') : md5(i);
}

test('expires is read as Keystone writes it (microseconds, Z, +00:00, no zone), fractions round up; anything else is unknown (kept)', () => {
  const read = (expires: string) => codec.scanContent(Buffer.from(`{"revoked": [{"id": "${md5(1)}", "expires": ${expires}}]}`)).ids.tables[0]!.expires[0];
  const at = Date.UTC(2030, 5, 15, 12, 30, 45) / 1000;
  assert.equal(read('"2030-06-15T12:30:45.000000Z"'), at);
  assert.equal(read('"2030-06-15T12:30:45Z"'), at);
  assert.equal(read('"2030-06-15T12:30:45"'), at);
  assert.equal(read('"2030-06-15T12:30:45.000001"'), at + 1);
  assert.equal(read('"2030-06-15T14:30:45+02:00"'), at);
  assert.equal(read('"2030-06-15T12:30:45.5-01:00"'), at + 3600 + 1);
  assert.equal(read('"2030-02-29T00:00:00Z"'), Date.parse('2030-03-01T00:00:00Z') / 1000, 'as Date.parse would roll it');
  assert.equal(read('"Sat, 15 Jun 2030 12:30:45 GMT"'), at);
  for (const odd of ['"soon"', 'null', '12', '""', '"1969-12-31T00:00:00Z"']) assert.equal(read(odd), UNKNOWN_EXPIRY, odd);
  assert.equal(codec.scanContent(Buffer.from(`{"revoked": [{"id": "${md5(1)}"}]}`)).ids.tables[0]!.expires[0], UNKNOWN_EXPIRY);
  // A duplicate keeps the later expiry.
  const dup = codec.scanContent(Buffer.from(`{"revoked": [{"id": "${md5(1)}", "expires": "2030-01-01T00:00:00Z"}, {"id": "${md5(1).toUpperCase()}", "expires": "2031-01-01T00:00:00Z"}]}`));
  assert.equal(dup.ids.tables[0]!.count, 1);
  assert.equal(dup.ids.tables[0]!.expires[0], Date.UTC(2031, 0, 1) / 1000);
});

for (const seed of [1, 2, 3, 4, 5, 6]) {
  test(`merge against the model (seed ${seed}): every new entry, every unexpired current one, nothing else`, async () => {
    const random = seeded(seed);
    const size = seed <= 3 ? 300 : 40_000;
    const universe = size * 2;
    const current: ModelEntry[] = [];
    const fresh: ModelEntry[] = [];
    for (let i = 0; i < universe; i++) {
      const expires = NOW + Math.floor((random() - 0.3) * 7200);
      if (random() < 0.5) current.push({ i, expires });
      if (random() < 0.5) fresh.push({ i, expires });
    }
    const merged = await mergeRevocations(listOf(current), listOf(fresh), NOW, 60);
    const inFresh = new Set(fresh.map((e) => e.i));
    const kept = current.filter((e) => !inFresh.has(e.i) && e.expires > NOW);
    assert.equal(merged.kept, kept.length);
    assert.equal(merged.keptBeyondGrace, kept.filter((e) => e.expires > NOW + 60).length);
    const expected = new Set([...inFresh, ...kept.map((e) => e.i)]);
    for (let i = 0; i < universe; i++) {
      assert.equal(merged.entries.has(idOf(i)), expected.has(i), `id ${i}`);
      assert.equal(merged.entries.hasAuditId(audit(i)), expected.has(i), `audit id ${i}`);
    }
    // Merged again with the same new list: nothing more is kept than was (an idempotent step).
    const again = await mergeRevocations(merged.entries, listOf(fresh), NOW, 60);
    assert.equal(again.kept, kept.length);
    assert.equal(again.entries.size, merged.entries.size);
  });
}

test('nothing dropped early (Keystone\'s next list): the new list serves as it is, no copy', async () => {
  const current = listOf([{ i: 1, expires: NOW + 100 }, { i: 2, expires: NOW - 1 }]);
  const fresh = listOf([{ i: 1, expires: NOW + 100 }, { i: 3, expires: NOW + 100 }]);
  const merged = await mergeRevocations(current, fresh, NOW);
  assert.equal(merged.entries, fresh);
  assert.equal(merged.kept, 0);
});
