import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthProtocol, type AuthTokenOptions } from '../../src/index.js';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { CapturingLogger } from '../helpers/app.js';
import { freePort, Memcached } from '../helpers/memcached.js';

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
});
after(() => idp.close());

const options = (extra: Partial<AuthTokenOptions> = {}): AuthTokenOptions => ({
  ...idp.serviceCredentials, www_authenticate_uri: 'http://keystone.example.test/', logger: new CapturingLogger(), http_request_max_retries: 0, ...extra,
});

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(condition(), what);
}

test('health(): a service user the identity server refuses is "refusing", not "up", and says why', async () => {
  const protocol = new AuthProtocol(options({ password: 'wrong' }));
  try {
    const decision = await protocol.validate({ 'x-auth-token': await idp.issueToken({ format: 'fernet' }) });
    assert.equal(decision.status, 'unavailable');
    const health = protocol.health();
    assert.equal(health.identityServer.state, 'refusing');
    assert.equal(health.identityServer.serviceUser.state, 'refused');
    assert.match(health.identityServer.lastError ?? '', /refused the service credentials.*HTTP 401/);
    assert.doesNotMatch(JSON.stringify(health), /wrong/, 'never the password');
  } finally {
    await protocol.close();
  }
});

test('health(): a validation endpoint that answers 404 even for the service user\'s own token is "refusing", with the fix', async () => {
  // identity_uri pointing at something that is not Keystone (a wrong catalog entry does the same).
  const notKeystone: Server = createServer((req, res) => res.writeHead(404).end('<html>Not Found</html>')).listen(0, '127.0.0.1');
  await new Promise((resolve) => notKeystone.once('listening', resolve));
  const protocol = new AuthProtocol(options({ identity_uri: `http://127.0.0.1:${(notKeystone.address() as AddressInfo).port}`, auth_version: 'v3' }));
  try {
    await protocol.ready().catch(() => {});
    const decision = await protocol.validate({ 'x-auth-token': await idp.issueToken({ format: 'jws' }) });
    assert.equal(decision.status, 'invalid');
    await until(() => protocol.health().identityServer.validation.state === 'failing', 'the self-check ran');
    const health = protocol.health();
    assert.equal(health.identityServer.state, 'refusing');
    assert.equal(health.identityServer.serviceUser.state, 'authenticated');
    assert.match(health.identityServer.validation.lastError ?? '', /answers 404 even for the service user's own token.*identity_uri, or interface and region_name/);
  } finally {
    notKeystone.close();
    await protocol.close();
  }
});

test('health(): a working configuration is "up", validation "ok"; an unknown token does not make it "refusing"', async () => {
  const protocol = new AuthProtocol(options());
  try {
    assert.equal((await protocol.validate({ 'x-auth-token': await idp.issueToken({ format: 'fernet' }) })).status, 'confirmed');
    assert.equal((await protocol.validate({ 'x-auth-token': 'gAAAAABunknown' })).status, 'invalid');
    await new Promise((resolve) => setTimeout(resolve, 200)); // the self-check, if any, has answered
    const health = protocol.health();
    assert.equal(health.identityServer.state, 'up');
    assert.equal(health.identityServer.serviceUser.state, 'authenticated');
    assert.equal(health.identityServer.validation.state, 'ok');
    assert.deepEqual(health.sharedCache, { state: 'not-configured' });
  } finally {
    await protocol.close();
  }
});

test('health(): memcached connected, then failing with its last error', async () => {
  const memcached = await Memcached.start();
  const protocol = new AuthProtocol(options({ memcached_servers: [memcached.address] }));
  try {
    assert.equal((await protocol.validate({ 'x-auth-token': await idp.issueToken({ format: 'fernet' }) })).status, 'confirmed');
    await until(() => protocol.health().sharedCache.state === 'connected', 'memcached connected');
    assert.deepEqual(protocol.health().sharedCache, { state: 'connected', store: 'memcached', servers: [memcached.address], lastError: undefined, lastErrorAt: undefined });
  } finally {
    await memcached.stop();
  }
  try {
    assert.equal((await protocol.validate({ 'x-auth-token': await idp.issueToken({ format: 'fernet' }) })).status, 'confirmed', 'requests go on without memcached');
    await until(() => protocol.health().sharedCache.state === 'failing', 'memcached failing');
    const shared = protocol.health().sharedCache;
    assert.ok(shared.state === 'failing' && shared.lastError && shared.lastErrorAt, JSON.stringify(shared));
  } finally {
    await protocol.close();
  }
  void freePort;
});
