import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthProtocol, KeystoneAuthError } from '../../src/index.js';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { CapturingLogger, tempDir } from '../helpers/app.js';

/** Readiness, health, and the circuit breaker that keeps an outage from costing every request its timeout. */

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer({ slowMs: 30_000 });
});
after(() => idp.close());

const protocolFor = (extra: Record<string, unknown> = {}) =>
  new AuthProtocol({ identity_uri: idp.url, ...idp.adminCredentials, www_authenticate_uri: 'http://k/', signing_dir: tempDir(), logger: new CapturingLogger(), http_request_max_retries: 0, ...extra });

test('ready() resolves when credentials, identity server, certificates and revocation list are at hand; rejects with the typed error otherwise', async () => {
  const good = protocolFor();
  try {
    await good.ready();
    assert.equal(good.stats.certificateFetches.signing, 1, 'certificates fetched');
    assert.equal(good.stats.revocationFetches, 1, 'revocation list fetched');
    const health = good.health();
    assert.equal(health.identityServer.state, 'up');
    assert.equal(health.identityServer.breaker, 'closed');
    assert.match(health.signingCertificate?.subject ?? '', /CN=Keystone Signing/);
    assert.ok((health.signingCertificate?.expiresInDays ?? 0) > 30);
    assert.equal(health.revocationList?.entries, 0);
    assert.doesNotThrow(() => JSON.stringify(health));
  } finally {
    await good.close();
  }
  const wrong = protocolFor({ admin_password: 'wrong' });
  await assert.rejects(wrong.ready(), (error: KeystoneAuthError) => error.code === 'ERR_IDENTITY_AUTH' && error.status === 503);
  await wrong.close();
  const dead = new AuthProtocol({ identity_uri: 'http://127.0.0.1:9', admin_user: 'a', admin_password: 'b', www_authenticate_uri: 'http://k/', signing_dir: tempDir(), logger: new CapturingLogger(), http_request_max_retries: 0 });
  await assert.rejects(dead.ready(), (error: KeystoneAuthError) => error.code === 'ERR_IDENTITY_UNAVAILABLE');
  assert.equal(dead.health().identityServer.state, 'down');
  await dead.close();
});

test('an identity server that stops answering: after the threshold, uncached requests get 503 with Retry-After without a request; cached tokens pass; one probe closes the circuit', async () => {
  const protocol = protocolFor({ http_connect_timeout: 1, circuitBreakerThreshold: 3, circuitBreakerHalfOpenAfter: 2 });
  const logger = protocol.logger as CapturingLogger;
  try {
    const cached = await idp.issueToken({ format: 'uuid', user: 'cached' });
    assert.equal((await protocol.validate({ 'x-auth-token': cached })).status, 'confirmed');
    await idp.setFault('slow'); // accepts, never answers within the timeout: a blackhole
    const uuids = await Promise.all(Array.from({ length: 8 }, (_, i) => idp.issueToken({ format: 'uuid', user: `u${i}` })));
    const before = idp.requests.length;
    for (let i = 0; i < 3; i++) assert.equal((await protocol.validate({ 'x-auth-token': uuids[i]! })).status, 'unavailable');
    const attempted = idp.requests.length - before;
    assert.equal(protocol.health().identityServer.breaker, 'open');
    for (let i = 3; i < 8; i++) {
      const decision = await protocol.validate({ 'x-auth-token': uuids[i]! });
      if (decision.status !== 'unavailable') assert.fail(`expected unavailable, got ${decision.status}`);
      assert.ok((decision.error as { retryAfterSeconds?: number }).retryAfterSeconds! >= 1, 'Retry-After');
      assert.match(decision.error.message, /circuit open/);
    }
    assert.equal(idp.requests.length - before, attempted, 'no request reached the identity server while the circuit was open');
    assert.equal((await protocol.validate({ 'x-auth-token': cached })).status, 'confirmed', 'cached tokens are untouched');
    assert.match(logger.text(), /circuit open/);

    await idp.setFault(null);
    await new Promise((resolve) => setTimeout(resolve, 2200)); // circuitBreakerHalfOpenAfter
    assert.equal((await protocol.validate({ 'x-auth-token': uuids[7]! })).status, 'confirmed', 'the probe succeeds');
    assert.equal(protocol.health().identityServer.breaker, 'closed');
    assert.match(logger.text(), /circuit closed/);
  } finally {
    await idp.setFault(null);
    await protocol.close();
  }
});
