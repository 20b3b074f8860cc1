import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Registry } from 'prom-client';
import { AuthProtocol } from '../../src/index.js';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { keystonePrometheus } from '../../examples/metrics.js';
import { CapturingLogger, tempDir, startApp } from '../helpers/app.js';

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
});
after(() => idp.close());

const NAMES = ['validation', 'cache', 'identity-request', 'certificate-refetch', 'revocation-refresh', 'breaker'];

test('diagnostics_channel: decisions, cache lookups, identity requests, refetches, revocation refreshes, breaker changes; never a token', async () => {
  const events: Record<string, unknown[]> = Object.fromEntries(NAMES.map((n) => [n, []]));
  const handlers = NAMES.map((name) => [`keystone-authtoken:${name}`, (message: unknown) => events[name]!.push(message)] as const);
  for (const [channel, handler] of handlers) subscribe(channel, handler);
  const protocol = new AuthProtocol({ identity_uri: idp.url, ...idp.adminCredentials, www_authenticate_uri: 'http://k/', signing_dir: tempDir(), logger: new CapturingLogger(), http_request_max_retries: 0, circuitBreakerThreshold: 1, circuitBreakerHalfOpenAfter: 60, certificateRefetchCooldown: 0 });
  try {
    const token = await idp.issueToken({ user: 'observed' });
    const online = await idp.issueToken({ format: 'uuid' });
    assert.equal((await protocol.decide({ 'x-auth-token': token })).status, 'confirmed');
    assert.equal((await protocol.decide({ 'x-auth-token': token })).status, 'confirmed');
    assert.equal((await protocol.decide({ 'x-auth-token': online })).status, 'confirmed');
    assert.equal((await protocol.decide({ 'x-auth-token': 'MIIgarbage' })).status, 'invalid');
    await protocol.certificates.refresh('test');
    await idp.setFault('down');
    await protocol.decide({ 'x-auth-token': await idp.issueToken({ format: 'uuid' }) });

    const validations = events.validation as { outcome: string; cached: boolean; code?: string; durationMs: number }[];
    assert.deepEqual(validations.map((v) => `${v.outcome}${v.cached ? ' cached' : ''}`), ['confirmed', 'confirmed cached', 'confirmed', 'invalid', 'unavailable']);
    assert.equal(validations[3]!.code, 'ERR_TOKEN_MALFORMED');
    assert.ok(validations.every((v) => v.durationMs >= 0));
    assert.ok((events.cache as { hit: boolean }[]).some((e) => !e.hit));
    const requests = events['identity-request'] as { label: string; status?: number; error?: string }[];
    assert.ok(requests.some((r) => /OS-SIMPLE-CERT/.test(r.label) && r.status === 200));
    assert.ok(requests.some((r) => r.error === 'ERR_IDENTITY_UNAVAILABLE'));
    assert.deepEqual(events['certificate-refetch'], [{ reason: 'test' }]);
    assert.ok((events['revocation-refresh'] as { ok: boolean }[]).some((e) => e.ok));
    assert.deepEqual(events.breaker, [{ state: 'open' }]);
    const everything = JSON.stringify(events);
    assert.ok(!everything.includes(token) && !everything.includes(online), 'no token in any event');
  } finally {
    for (const [channel, handler] of handlers) unsubscribe(channel, handler);
    await idp.setFault(null);
    await protocol.close();
  }
});

test('examples/metrics.ts: Prometheus metrics from the events of a running app', async () => {
  const registry = keystonePrometheus(new Registry());
  const app = await startApp(idp);
  try {
    const token = await idp.issueToken();
    for (let i = 0; i < 3; i++) assert.equal((await app.get({ 'x-auth-token': token })).status, 200);
    assert.equal((await app.get({})).status, 401);
    const text = await registry.metrics();
    assert.match(text, /keystone_authtoken_decisions_total\{outcome="confirmed",code="",cached="true"\} 2/);
    assert.match(text, /keystone_authtoken_decisions_total\{outcome="confirmed",code="",cached="false"\} 1/);
    assert.match(text, /keystone_authtoken_decisions_total\{outcome="invalid",code="ERR_TOKEN_MISSING",cached="false"\} 1/);
    assert.match(text, /keystone_authtoken_identity_request_seconds_count\{outcome="200"\} \d+/);
  } finally {
    await app.close();
  }
});
