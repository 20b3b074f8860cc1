import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CacheIntegrityError, deriveKeys, protect, protectedCacheKey, unprotect } from '../../src/cache/memcache-crypt.js';
import { pythonMemcachedServerIndex } from '../../src/cache/memcached-store.js';
import { SharedTokenCache } from '../../src/cache/shared-cache.js';

const vectors = JSON.parse(readFileSync(new URL('../../fixtures/reference/memcache.json', import.meta.url), 'utf8'));

test('cache keys without a security strategy are those of keystonemiddleware (tokens/<sha256>)', () => {
  for (const v of vectors.plain_keys) assert.equal(SharedTokenCache.key(v.token_id), v.key);
});

test('MAC and ENCRYPT key derivation, cache keys and MAC values match _memcache_crypt (known answers)', () => {
  assert.ok(vectors.derived.length >= 12);
  for (const v of vectors.derived) {
    const keys = deriveKeys(v.token_id, v.secret, v.strategy);
    assert.equal(`tokens/b'${protectedCacheKey(keys)}'`, v.cache_key, 'Python 3 writes the repr of the base64 bytes');
    assert.equal(keys.mac.toString('hex'), v.mac_key_hex);
    assert.equal(keys.encryption.toString('hex'), v.encryption_key_hex);
    // Values written by Python read back to the same data (ENCRYPT uses a random IV, so compare after decryption).
    assert.equal(unprotect(keys, Buffer.from(v.protected)).toString(), v.data);
    if (v.strategy === 'MAC') assert.equal(protect(keys, Buffer.from(v.data)).toString(), v.protected, 'MAC values are deterministic');
  }
});

test('a tampered entry, or one written with another secret, is refused', () => {
  const v = vectors.derived.find((d: { strategy: string }) => d.strategy === 'ENCRYPT');
  const keys = deriveKeys(v.token_id, v.secret, 'ENCRYPT');
  const stored = Buffer.from(v.protected);
  const flipped = Buffer.from(stored);
  flipped[100] = flipped[100] === 0x41 ? 0x42 : 0x41;
  assert.throws(() => unprotect(keys, flipped), CacheIntegrityError);
  assert.throws(() => unprotect(deriveKeys(v.token_id, 'other secret', 'ENCRYPT'), stored), CacheIntegrityError);
  assert.throws(() => unprotect(keys, Buffer.from('short')), CacheIntegrityError);
  // A valid MAC over a ciphertext that does not decrypt is also refused, not a crash.
  const mac = deriveKeys(v.token_id, v.secret, 'ENCRYPT');
  const garbage = protect({ ...mac, strategy: 'MAC' }, Buffer.from('0123456789abcdef0123'));
  assert.throws(() => unprotect(mac, garbage), CacheIntegrityError);
});

test('keys go to the memcached server python-memcached would choose', () => {
  for (const v of vectors.server_index) assert.equal(pythonMemcachedServerIndex(v.key, v.servers), v.index, v.key);
});
