import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { RevokedSet } from '../../src/signing/revoked-set.js';
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
