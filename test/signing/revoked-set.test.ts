import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { RevocationEntries, RevokedSet, auditKey } from '../../src/signing/revoked-set.js';
import { mergeRevocations } from '../../src/signing/revocation-merge.js';
import { revokedIds, decodeRevocationList, WORKER_THRESHOLD_BYTES } from '../../src/signing/revocation-worker.js';
import { IdentityServerError } from '../../src/index.js';

const hexId = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  fc.uint8Array({ minLength: 32, maxLength: 32 }),
  fc.uint8Array({ minLength: 1, maxLength: 4 }), // short ids: many collisions and neighbours
).map((bytes) => Buffer.from(bytes).toString('hex'));
const anyId = fc.oneof(hexId, hexId.map((id) => id.toUpperCase()), fc.string({ maxLength: 40 }), fc.constant(''), fc.constant('abc'));

test('RevokedSet answers as a Set of lower-cased ids would, for hex, mixed-case, odd-length and other ids', () => {
  fc.assert(
    fc.property(fc.array(anyId, { maxLength: 60 }), fc.array(anyId, { maxLength: 30 }), (ids, probes) => {
      const reference = new Set(ids.map((id) => id.toLowerCase()));
      const set = RevokedSet.of(ids);
      assert.equal(set.size, reference.size);
      for (const probe of [...ids, ...probes, ...ids.map((id) => id.toUpperCase())]) {
        assert.equal(set.has(probe), reference.has(probe.toLowerCase()), JSON.stringify({ ids, probe }));
      }
    }),
    { numRuns: 2000 },
  );
});

test('RevokedSet: an id one bit away from a listed one is not on the list', () => {
  const ids = Array.from({ length: 1000 }, () => randomBytes(16).toString('hex'));
  const set = RevokedSet.of(ids);
  for (const id of ids) {
    assert.ok(set.has(id));
    const near = Buffer.from(id, 'hex');
    near[15]! ^= 1;
    assert.equal(set.has(near.toString('hex')), false);
  }
});

function listContent(ids: string[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ revoked: ids.map((id) => ({ id, expires: '2030-01-01T00:00:00Z' })) }));
}

test('a list above the worker threshold gives the same answers as one read inline', async () => {
  const ids = Array.from({ length: 12_000 }, (_, i) => (i % 3 === 0 ? randomBytes(32).toString('hex').toUpperCase() : randomBytes(16).toString('hex')));
  ids.push('not-hex-id', ids[5]!); // an id of another shape, and a duplicate
  const content = listContent(ids);
  assert.ok(content.length > WORKER_THRESHOLD_BYTES, 'the content must take the worker path');
  const viaWorker = await revokedIds(content);
  const inline = await revokedIds(listContent(ids.slice(0, 100)));
  assert.equal(viaWorker.size, 12_001);
  for (const id of ids) assert.ok(viaWorker.has(id) && viaWorker.has(id.toLowerCase()), id);
  assert.ok(!viaWorker.has(randomBytes(16).toString('hex')));
  for (const id of ids.slice(0, 100)) assert.equal(inline.has(id), viaWorker.has(id));
});

const auditShapes = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => Buffer.from(bytes).toString('base64url')), // Keystone's
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => Buffer.from(bytes).toString('base64url').slice(0, 21) + 'B'), // spare bits set
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => Buffer.from(bytes).toString('base64')), // padded
  fc.uuid(),
  fc.uuid().map((id) => id.toUpperCase()),
  fc.string({ maxLength: 30, unit: 'grapheme' }),
  fc.string({ maxLength: 8, unit: 'binary' }), // lone surrogates among them
  fc.constant(''),
);

test('hasAuditId answers as a Set of audit keys would (exact, case and all), for audit ids of every shape', () => {
  fc.assert(
    fc.property(fc.array(auditShapes, { maxLength: 60 }), fc.array(auditShapes, { maxLength: 30 }), (auditIds, probes) => {
      const reference = new Set(auditIds.map(auditKey));
      const entries = RevocationEntries.of(auditIds.map((audit_id, i) => ({ id: `${i}`.padStart(32, '0'), audit_id })));
      assert.equal(entries.auditIds.size, reference.size);
      for (const probe of [...auditIds, ...probes, ...auditIds.map((id) => id.toUpperCase()), ...auditIds.map((id) => id.toLowerCase())]) {
        assert.equal(entries.hasAuditId(probe), reference.has(auditKey(probe)), JSON.stringify({ auditIds, probe }));
      }
    }),
    { numRuns: 1000 },
  );
});

/** A list's content as Keystone writes it (json.dumps separators), each entry expiring at `expires`. */
function auditListContent(entries: { id: string; audit_id: string }[], expires = '2030-01-01T00:00:00.000000Z'): Uint8Array {
  return new TextEncoder().encode(`{"revoked": [${entries.map((e) => `{"id": ${JSON.stringify(e.id)}, "expires": "${expires}", "audit_id": ${JSON.stringify(e.audit_id)}}`).join(', ')}]}`);
}

test('a list of odd ids read on the worker holds them in byte tables, none as a string on the main thread, and finds each exactly', async () => {
  const uuids = Array.from({ length: 12_000 }, () => randomUUID());
  const oddTokenIds = Array.from({ length: 2_000 }, (_, i) => `Token-${randomUUID()}-${i}`);
  const keystone = Array.from({ length: 1_000 }, () => randomBytes(16).toString('base64url'));
  const content = auditListContent([
    ...uuids.map((audit_id) => ({ id: randomBytes(16).toString('hex'), audit_id })),
    ...oddTokenIds.map((id, i) => ({ id, audit_id: keystone[i % 1_000]! })),
    { id: 'x'.repeat(300), audit_id: 'é'.repeat(300) }, // longer than 256 characters
    { id: 'ab'.repeat(200), audit_id: uuids[0]! }, // hex, longer than 256: a string of its own, as before
  ]);
  assert.ok(content.length > WORKER_THRESHOLD_BYTES, 'the content must take the worker path');
  const entries = await revokedIds(content);
  assert.deepEqual(entries.auditIds.counts, { decoded: 1_000, odd: 12_001 });
  assert.deepEqual(entries.ids.counts, { decoded: 12_000, odd: 2_002 });
  for (const built of [entries.ids.built, entries.auditIds.built]) {
    assert.deepEqual(Object.keys(built).sort(), ['odd', 'tables'], 'nothing but tables');
    for (const table of [...built.tables, ...built.odd]) assert.ok(table.bytes instanceof Uint8Array && table.expires instanceof Uint32Array);
  }
  for (const id of uuids) assert.ok(entries.hasAuditId(id) && !entries.hasAuditId(id.toUpperCase()), id);
  for (const id of keystone) assert.ok(entries.hasAuditId(id));
  assert.ok(entries.hasAuditId('é'.repeat(300)) && !entries.hasAuditId('É'.repeat(300)) && !entries.hasAuditId('é'.repeat(299)));
  for (const id of oddTokenIds) assert.ok(entries.has(id) && entries.has(id.toLowerCase()) && entries.has(id.toUpperCase()), id);
  assert.ok(entries.has('X'.repeat(300)) && entries.has('AB'.repeat(200)) && !entries.has('ab'.repeat(199)));
  assert.ok(!entries.hasAuditId(randomUUID()) && !entries.has(`token-${randomUUID()}-1`) && !entries.has(''));
});

test('merging lists of odd ids keeps the unexpired ones the new list drops, and nothing expired', async () => {
  const now = Math.floor(Date.UTC(2030, 0, 1) / 1000);
  const later = '2030-01-01T01:00:00.000000Z';
  const earlier = '2029-12-31T23:00:00.000000Z';
  const keep = Array.from({ length: 50 }, () => ({ id: `kept-${randomUUID()}`, audit_id: randomUUID() }));
  const gone = Array.from({ length: 50 }, () => ({ id: `gone-${randomUUID()}`, audit_id: randomUUID() }));
  const both = Array.from({ length: 50 }, () => ({ id: `both-${randomUUID()}`, audit_id: randomUUID() }));
  const fresh = Array.from({ length: 50 }, () => ({ id: `new-${randomUUID()}`, audit_id: randomUUID() }));
  const readList = async (parts: [typeof keep, string][]) => {
    const text = parts.map(([list, expires]) => new TextDecoder().decode(auditListContent(list, expires)).slice(13, -2)).filter((s) => s).join(', ');
    return revokedIds(new TextEncoder().encode(`{"revoked": [${text}]}`));
  };
  const current = await readList([[keep, later], [gone, earlier], [both, later]]);
  const next = await readList([[both, later], [fresh, later]]);
  const merged = await mergeRevocations(current, next, now, 60);
  assert.equal(merged.kept, 50);
  assert.equal(merged.keptBeyondGrace, 50);
  for (const e of [...keep, ...both, ...fresh]) assert.ok(merged.entries.has(e.id) && merged.entries.hasAuditId(e.audit_id), e.id);
  for (const e of gone) assert.ok(!merged.entries.has(e.id) && !merged.entries.hasAuditId(e.audit_id), e.id);
  assert.deepEqual(merged.entries.auditIds.counts, { decoded: 0, odd: 150 });
});

test('a large answer that is not a revocation list is a typed error from the worker, not a crash', async () => {
  const big = (text: string) => new TextEncoder().encode(text);
  const cases: [Uint8Array, 'json' | 'pem', RegExp][] = [
    [big(`{"signed": ${JSON.stringify('x'.repeat(WORKER_THRESHOLD_BYTES + 10))}}`), 'json', /not PEM CMS/],
    [big(`{"nope": "${'x'.repeat(WORKER_THRESHOLD_BYTES + 10)}"}`), 'json', /no "signed"/],
    [big('{'.repeat(WORKER_THRESHOLD_BYTES + 10)), 'json', /cannot be read/],
    [big(`-----BEGIN CMS-----\n${'*'.repeat(WORKER_THRESHOLD_BYTES + 10)}\n-----END CMS-----\n`), 'pem', /not valid base64/],
    [new Uint8Array(WORKER_THRESHOLD_BYTES + 10).fill(0xff), 'pem', /cannot be read/],
  ];
  for (const [bytes, kind, message] of cases) {
    await assert.rejects(decodeRevocationList(bytes, kind), (error: unknown) => error instanceof IdentityServerError && error.code === 'ERR_IDENTITY_RESPONSE' && message.test(error.message));
  }
  await assert.rejects(revokedIds(big(`{"revoked": "${'x'.repeat(WORKER_THRESHOLD_BYTES)}"}`)), /no "revoked" array/);
});
