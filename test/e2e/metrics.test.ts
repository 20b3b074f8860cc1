import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Registry } from 'prom-client';
import type { CacheEvent } from '../../src/index.js';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { keystonePrometheus } from '../../examples/metrics.js';
import { startApp } from '../helpers/app.js';

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
});
after(() => idp.close());

test('memory cache hits decided on the synchronous path are published on keystone-authtoken:cache (a dashboard sees the hit ratio)', async () => {
  const events: CacheEvent[] = [];
  const handler = (message: unknown) => events.push(message as CacheEvent);
  subscribe('keystone-authtoken:cache', handler);
  const app = await startApp(idp);
  try {
    for (const format of ['fernet', 'pki'] as const) {
      events.length = 0;
      const token = await idp.issueToken({ format });
      for (let i = 0; i < 4; i++) assert.equal((await app.get({ 'x-auth-token': token })).status, 200);
      assert.deepEqual(events.filter((e) => e.level === 'memory').map((e) => e.hit), [false, true, true, true], format);
    }
  } finally {
    unsubscribe('keystone-authtoken:cache', handler);
    await app.close();
  }
});

test("examples/metrics.ts (importing from 'keystone-authtoken'): cache lookups and decisions of a running app in Prometheus", async () => {
  const registry = keystonePrometheus(new Registry());
  const app = await startApp(idp);
  try {
    const token = await idp.issueToken({ format: 'jws' });
    for (let i = 0; i < 3; i++) assert.equal((await app.get({ 'x-auth-token': token })).status, 200);
    const text = await registry.metrics();
    assert.match(text, /keystone_authtoken_cache_lookups_total\{level="memory",hit="true"\} 2/);
    assert.match(text, /keystone_authtoken_cache_lookups_total\{level="memory",hit="false"\} 1/);
    assert.match(text, /keystone_authtoken_decisions_total\{outcome="confirmed",code="",cached="true"\} 2/);
  } finally {
    await app.close();
  }
});
