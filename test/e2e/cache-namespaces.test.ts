import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { hashToken } from '../../src/index.js';
import { idp, memcached, useIdentityServerAndMemcached } from '../helpers/identity-and-memcached.js';
import { startApp } from '../helpers/app.js';

/**
 * A UUID token is 32 hex digits, and so is the MD5 of a PKI token: keyed in one namespace, md5(victim's PKI
 * token) sent as an online token reads the victim's identity, or plants an "invalid" entry in front of it. The
 * MD5 of revoked tokens is public (the revocation list publishes it), so this is within anyone's reach.
 */

useIdentityServerAndMemcached();

for (const hashAlgorithms of ['md5', 'sha256,md5']) {
  test(`in memory (hash_algorithms ${hashAlgorithms}): a PKI token's hash sent as an online token is not that token`, async () => {
    const app = await startApp(idp, { hash_algorithms: hashAlgorithms });
    try {
      const victim = await idp.issueToken({ user: `victim-${hashAlgorithms}`, roles: ['admin'] });
      assert.equal((await app.get({ 'x-auth-token': victim })).status, 200);
      for (const algorithm of hashAlgorithms.split(',')) {
        const asOnline = hashToken(victim, algorithm);
        const { status, keystone } = await app.get({ 'x-auth-token': asOnline });
        assert.equal(status, 401, `${algorithm} of the victim's token, sent as a token: ${JSON.stringify(keystone)}`);
      }
      // The other way round: the hash sent first plants an "invalid" entry; the victim's token still passes.
      const second = await idp.issueToken({ user: `second-${hashAlgorithms}` });
      for (const algorithm of hashAlgorithms.split(',')) assert.equal((await app.get({ 'x-auth-token': hashToken(second, algorithm) })).status, 401);
      const { status, keystone } = await app.get({ 'x-auth-token': second });
      assert.equal(status, 200);
      assert.equal(keystone.user.id, `second-${hashAlgorithms}-id`);
      assert.equal(app.auth.protocol.stats.cmsVerifications, 2, 'each PKI token verified once: no entry confused with another');
    } finally {
      await app.close();
    }
  });
}

for (const strategy of ['None', 'MAC']) {
  test(`through memcached (${strategy}): one node caches a PKI token, another gets its hash as a token: 401; and a planted "invalid" does not shadow the token`, async () => {
    const options = { memcached_servers: memcached.address, ...(strategy === 'MAC' ? { memcache_security_strategy: 'MAC', memcache_secret_key: 'fleet' } : {}) };
    const [a, b] = [await startApp(idp, options), await startApp(idp, options)];
    try {
      const victim = await idp.issueToken({ user: `shared-victim-${strategy}`, roles: ['admin'] });
      assert.equal((await a.get({ 'x-auth-token': victim })).status, 200);
      const { status } = await b.get({ 'x-auth-token': hashToken(victim) });
      assert.equal(status, 401, 'the hash is not the token on another node');

      const second = await idp.issueToken({ user: `shared-second-${strategy}` });
      assert.equal((await a.get({ 'x-auth-token': hashToken(second) })).status, 401); // "invalid" written to memcached
      const through = await b.get({ 'x-auth-token': second });
      assert.equal(through.status, 200);
      assert.equal(through.keystone.user.id, `shared-second-${strategy}-id`);
      // b verified both tokens itself... and a third node reads b's entry for the real token (the cache still works).
      const c = await startApp(idp, options);
      try {
        assert.equal((await c.get({ 'x-auth-token': second })).status, 200);
        assert.equal(c.auth.protocol.stats.cmsVerifications, 0, 'read from memcached');
      } finally {
        await c.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
}

const PY = `
import sys, json, logging
from keystonemiddleware.auth_token import _cache
mode, server, token_id = sys.argv[1:4]
cache = _cache.TokenCache(logging.getLogger('interop'), cache_time=300, memcached_servers=[server], use_advanced_pool=False)
cache.initialize({})
if mode == 'invalid':
    cache.set(token_id, 'invalid')
else:
    print(json.dumps(cache.get(token_id)))
`;

test("beside Python keystonemiddleware: an entry under a PKI token's hash (PKI-era keystonemiddleware's key) does not shadow the token; 10.1 finds our entry under the token itself", async (t) => {
  if (spawnSync('/usr/bin/python3', ['-c', 'import keystonemiddleware.auth_token._cache, memcache'], { stdio: 'ignore' }).status !== 0) {
    t.diagnostic('python3-keystonemiddleware is not installed (.ci/run installs it)');
    assert.fail('python3-keystonemiddleware is required for this interoperability test');
  }
  const app = await startApp(idp, { memcached_servers: memcached.address });
  const token = await idp.issueToken({ user: 'beside-python', format: 'pkiz' });
  try {
    // What a Python service sharing the cache wrote under the token's MD5 (an online token of that value).
    execFileSync('/usr/bin/python3', ['-c', PY, 'invalid', memcached.address, hashToken(token)]);
    const { status, keystone } = await app.get({ 'x-auth-token': token });
    assert.equal(status, 200);
    assert.equal(keystone.user.id, 'beside-python-id');
  } finally {
    await app.close(); // waits for the shared cache write
  }
  // Python 10.1 keys every token, PKI ones included, by the token itself: it finds what we wrote.
  const read = JSON.parse(execFileSync('/usr/bin/python3', ['-c', PY, 'read', memcached.address, token], { encoding: 'utf8' }));
  assert.equal(read?.[0]?.token?.user?.id, 'beside-python-id');
  assert.equal(JSON.parse(execFileSync('/usr/bin/python3', ['-c', PY, 'read', memcached.address, hashToken(token)], { encoding: 'utf8' })), 'invalid', 'the hash key is untouched');
});
