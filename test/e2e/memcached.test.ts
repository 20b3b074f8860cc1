import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { tokenBody } from '../../src/testing/index.js';
import { SharedTokenCache } from '../../src/cache/shared-cache.js';
import { MemcachedStore } from '../../src/cache/memcached-store.js';
import { deriveKeys, protectedCacheKey } from '../../src/cache/memcache-crypt.js';
import { idp, memcached, useIdentityServerAndMemcached } from '../helpers/identity-and-memcached.js';
import { PYTHON_TOKEN_CACHE } from '../helpers/python-token-cache.js';
import { CapturingLogger, startApp } from '../helpers/app.js';

useIdentityServerAndMemcached();

const child = fileURLToPath(new URL('../helpers/validate-in-child.ts', import.meta.url));
/** Runs one middleware instance in its own process (asynchronously: the identity server lives in this one). */
async function validateInChild(token: string, env: Record<string, string> = {}) {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', child, idp.url, memcached.address, token], { encoding: 'utf8', env: { ...process.env, ...env } });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

for (const strategy of ['None', 'MAC', 'ENCRYPT']) {
  test(`two processes share one memcached (memcache_security_strategy ${strategy}): the second validates from the cache`, async () => {
    const env: Record<string, string> = strategy === 'None' ? {} : { STRATEGY: strategy, SECRET: 'fleet secret' };
    {
      const token = await idp.issueToken({ user: `fleet-${strategy}`, format: 'pkiz' });
      const first = await validateInChild(token, env);
      assert.equal(first.status, 'confirmed');
      assert.equal(first.stats.cmsVerifications, 1);
      const fetches = idp.count('/v3/OS-SIMPLE-CERT');
      const second = await validateInChild(token, env);
      assert.equal(second.status, 'confirmed');
      assert.equal(second.user, `fleet-${strategy}-id`);
      assert.equal(second.stats.cmsVerifications, 0, 'no second verification');
      assert.equal(second.stats.cacheHits, 1);
      assert.equal(idp.count('/v3/OS-SIMPLE-CERT') - fetches, 0, 'no certificate fetch in the second process');
    }
  });
}

test('a tampered or foreign entry in memcached is a miss, never a trusted identity', async () => {
  const app = await startApp(idp, { memcached_servers: memcached.address, memcache_security_strategy: 'MAC', memcache_secret_key: 'k1' });
  const store = new MemcachedStore([memcached.address], { timeoutMs: 500, logger: new CapturingLogger() });
  try {
    const token = await idp.issueToken({ user: 'honest' });
    const key = `tokens/b'${protectedCacheKey(deriveKeys(token, 'k1', 'MAC'))}'`;
    const forged = JSON.stringify([tokenBody({ user: 'admin', roles: ['admin'] }), '2099-01-01T00:00:00Z']);
    await store.set(key, 'A'.repeat(64) + Buffer.from(forged).toString('base64'), 300);
    const { status, seen } = await app.get({ 'x-auth-token': token });
    assert.equal(status, 200);
    assert.equal(seen['x-user-name'], 'honest', 'the forged identity was not trusted');
    assert.match(app.logger.text(), /shared cache entry ignored/);
  } finally {
    store.close();
    await app.close();
  }
});

test('memcached killed during a load of requests: zero failures, one warning, recovery when it returns', async () => {
  const app = await startApp(idp, { memcached_servers: memcached.address, memcacheTimeout: 100 });
  try {
    const tokens = await Promise.all(Array.from({ length: 60 }, (_, i) => idp.issueToken({ user: `load${i}` })));
    const statuses: number[] = [];
    for (let i = 0; i < tokens.length; i++) {
      if (i === 20) await memcached.stop();
      if (i === 40) await memcached.run();
      if (i >= 40) await new Promise((resolve) => setTimeout(resolve, 30));
      statuses.push((await app.get({ 'x-auth-token': tokens[i]! })).status);
    }
    assert.deepEqual(statuses.filter((s) => s !== 200), [], 'no request failed because of the cache');
    const warnings = app.logger.lines.filter((l) => l.message.includes('shared token cache unavailable'));
    assert.equal(warnings.length, 1, 'one warning per outage');
    assert.ok(app.logger.lines.some((l) => l.message.includes('reachable again')), 'recovered');
  } finally {
    await app.close();
  }
});

function python(): boolean {
  return spawnSync('/usr/bin/python3', ['-c', 'import keystonemiddleware.auth_token._cache, memcache'], { stdio: 'ignore' }).status === 0;
}

for (const strategy of ['None', 'MAC', 'ENCRYPT']) {
  test(`Python's keystonemiddleware and this library read each other's memcached entries (${strategy})`, async (t) => {
    if (!python()) {
      t.diagnostic('python3-keystonemiddleware is not installed: the known-answer tests cover the format; .ci/run installs it');
      assert.fail('python3-keystonemiddleware is required for the interoperability test (apt-get install -y python3-keystonemiddleware)');
    }
    const secret = 'shared fleet secret';
    const shared = new SharedTokenCache(new MemcachedStore([memcached.address], { timeoutMs: 1000, logger: new CapturingLogger() }), new CapturingLogger(), 1000, strategy === 'None' ? undefined : { strategy: strategy as 'MAC' | 'ENCRYPT', secret });
    try {
      // Python writes, we read.
      // keystonemiddleware 10.1 keys every token by the token itself, and so do we (see cache-namespaces.test.ts).
      const pyToken = await idp.issueToken({ user: 'from-python' });
      const pyId = pyToken;
      const body = tokenBody({ user: 'from-python' });
      execFileSync('/usr/bin/python3', ['-c', PYTHON_TOKEN_CACHE, 'write', memcached.address, strategy, secret, pyId], { input: JSON.stringify(body) });
      const read = await shared.get(pyId, 'pki', [pyId]);
      assert.ok(read?.valid, 'entry written by Python is readable');
      assert.equal(read.valid && read.identity.user.id, 'from-python-id');
      // We write, Python reads.
      const ours = await idp.issueToken({ user: 'from-node' });
      const ourId = ours;
      const identity = (await shared.get(pyId, 'pki', [pyId]))!;
      assert.ok(identity.valid);
      await shared.set(ourId, { ...identity, identity: { ...identity.identity, body: tokenBody({ user: 'from-node' }) } }, 300);
      const fromPython = JSON.parse(execFileSync('/usr/bin/python3', ['-c', PYTHON_TOKEN_CACHE, 'read', memcached.address, strategy, secret, ourId], { encoding: 'utf8' }));
      assert.equal(fromPython[0].token.user.id, 'from-node-id');
      // No negative entries, as keystonemiddleware 10.1 writes none: Python finds nothing for an invalid token.
      await shared.set('f'.repeat(32), { valid: false, code: 'ERR_TOKEN_INVALID', message: 'x' }, 300);
      assert.equal(JSON.parse(execFileSync('/usr/bin/python3', ['-c', PYTHON_TOKEN_CACHE, 'read', memcached.address, strategy, secret, 'f'.repeat(32)], { encoding: 'utf8' })), null);
    } finally {
      await shared.close();
    }
  });
}
