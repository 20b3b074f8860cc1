import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { AuthProtocol } from '../../src/index.js';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { CapturingLogger, tempDir } from '../helpers/app.js';

/**
 * How failures of the identity server reach the client and the log: one request per token a server answers 500,
 * one total deadline for a server that never answers, credential errors named as such, https:// against a
 * plain-HTTP port, messages that say where the URL came from, and refused tokens reckoned at their real size.
 */

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
});
after(() => idp.close());

const protocolFor = (extra: Record<string, unknown> = {}) =>
  new AuthProtocol({ identity_uri: idp.url, ...idp.adminCredentials, auth_version: 'v3', www_authenticate_uri: 'http://k/', signing_dir: tempDir(), logger: new CapturingLogger(), ...extra });

/** A server that accepts connections and never answers (a hung identity server). */
async function blackhole(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => {});
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

test('a token the identity server answers 500 costs one request carrying it (no 5xx retries), and 503', async () => {
  const protocol = protocolFor({ http_request_max_retries: 3 });
  try {
    await protocol.adminToken.get(); // the service's own token, before the fault
    const token = await idp.issueToken({ format: 'uuid', user: 'five-hundred' });
    await idp.setFault('error');
    const decision = await protocol.validate({ 'x-auth-token': token });
    assert.equal(decision.status, 'unavailable');
    assert.equal(idp.requests.filter((r) => r.subjectToken === token).length, 1, 'one request carried the token');
  } finally {
    await idp.setFault(null);
    await protocol.close();
  }
});

test('a real outage (the validation of the service\'s own token fails too) still opens the circuit', async () => {
  const protocol = protocolFor({ http_request_max_retries: 0, circuitBreakerThreshold: 2 });
  try {
    await protocol.adminToken.get();
    await idp.setFault('error');
    // Everything fails: the control validation of the service's own token fails too, so the outage counts.
    for (let i = 0; i < 2; i++) assert.equal((await protocol.validate({ 'x-auth-token': `garbage-${i}` })).status, 'unavailable');
    assert.equal(protocol.health().identityServer.breaker, 'open', 'a real outage opens the circuit');
  } finally {
    await idp.setFault(null);
    await protocol.close();
  }
});

test('a hung identity server: the 503 arrives at validationDeadline, retries included, and names it', async () => {
  const hung = await blackhole();
  const logger = new CapturingLogger();
  const protocol = new AuthProtocol({ identity_uri: hung.url, admin_token: 'service-token', auth_version: 'v3', www_authenticate_uri: 'http://k/', signing_dir: tempDir(), logger, validationDeadline: 1, http_connect_timeout: 10, http_request_max_retries: 3 });
  try {
    const decision = await protocol.validate({ 'x-auth-token': 'a'.repeat(200) });
    assert.equal(decision.status, 'unavailable');
    assert.equal(decision.status === 'unavailable' && decision.error.code, 'ERR_IDENTITY_TIMEOUT');
    assert.match(decision.status === 'unavailable' ? decision.error.message : '', /validationDeadline \(1 s\)/);
    assert.doesNotMatch(decision.status === 'unavailable' ? decision.error.message : '', /UND_ERR/);
    assert.match(logger.text(), /did not answer within validationDeadline/);
  } finally {
    await protocol.close();
    await hung.close();
  }
});

test('per-attempt timeouts are named by their option, not by undici\'s code alone', async () => {
  const hung = await blackhole();
  const protocol = new AuthProtocol({ identity_uri: hung.url, admin_token: 'service-token', auth_version: 'v3', www_authenticate_uri: 'http://k/', signing_dir: tempDir(), logger: new CapturingLogger(), validationDeadline: 30, http_connect_timeout: 1, http_request_max_retries: 0 });
  try {
    const decision = await protocol.validate({ 'x-auth-token': 'b'.repeat(200) });
    assert.equal(decision.status, 'unavailable');
    assert.match(decision.status === 'unavailable' ? decision.error.message : '', /no answer within http_connect_timeout \(1 s\)/);
    assert.match(decision.status === 'unavailable' ? decision.error.message : '', /identity_uri http:\/\/127\.0\.0\.1/);
  } finally {
    await protocol.close();
    await hung.close();
  }
});

test('wrong service credentials are logged and coded as credential errors, not as an unavailable identity server', async () => {
  const logger = new CapturingLogger();
  const protocol = protocolFor({ admin_password: 'wrong', logger });
  try {
    const decision = await protocol.validate({ 'x-auth-token': await idp.issueToken({ format: 'uuid' }) });
    assert.equal(decision.status, 'unavailable', 'still 503: not the client\'s fault');
    assert.equal(decision.status === 'unavailable' && decision.error.code, 'ERR_IDENTITY_AUTH');
    assert.match(logger.text(), /service credentials are wrong/);
    assert.doesNotMatch(logger.text(), /identity server unavailable/);
    assert.equal(protocol.health().identityServer.breaker, 'closed');
  } finally {
    await protocol.close();
  }
});

test('https:// against a plain-HTTP port fails at once with ERR_IDENTITY_TLS saying so, without retries', async () => {
  const plainHttps = idp.url.replace('http://', 'https://');
  const protocol = new AuthProtocol({ identity_uri: plainHttps, admin_token: 'x', auth_version: 'v3', www_authenticate_uri: 'http://k/', signing_dir: tempDir(), logger: new CapturingLogger(), http_request_max_retries: 3 });
  try {
    const decision = await protocol.validate({ 'x-auth-token': 'c'.repeat(200) });
    assert.equal(decision.status === 'unavailable' && decision.error.code, 'ERR_IDENTITY_TLS');
    assert.match(decision.status === 'unavailable' ? decision.error.message : '', /is https:\/\/ but .* speaks plain HTTP/);
    const again = await protocol.validate({ 'x-auth-token': 'd'.repeat(200) });
    assert.equal(again.status === 'unavailable' && again.error.code, 'ERR_IDENTITY_TLS', 'the verdict is remembered');
  } finally {
    await protocol.close();
  }
});

test('an identity endpoint from the service catalog is named as such (interface, region), not as identity_uri', async () => {
  // A catalog naming an endpoint where nothing listens (the kit's catalog names the kit itself by default).
  const wrongCatalog = await startIdentityServer({ catalogIdentityUrl: 'http://127.0.0.1:9' });
  const protocol = new AuthProtocol({
    auth_type: 'password', auth_url: `${wrongCatalog.url}/v3`, username: idp.adminCredentials.admin_user, password: idp.adminCredentials.admin_password,
    user_domain_name: 'Default', project_name: idp.adminCredentials.admin_tenant_name, project_domain_name: 'Default', interface: 'internal',
    www_authenticate_uri: 'http://k/', signing_dir: tempDir(), logger: new CapturingLogger(), http_request_max_retries: 0, http_connect_timeout: 2,
  });
  try {
    const decision = await protocol.validate({ 'x-auth-token': 'e'.repeat(200) });
    assert.equal(decision.status, 'unavailable');
    const message = decision.status === 'unavailable' ? decision.error.message : '';
    assert.match(message, /from the service catalog \(interface internal, any region/, message);
    assert.doesNotMatch(message, /check identity_uri/);
  } finally {
    await protocol.close();
    await wrongCatalog.close();
  }
});

test('refused online tokens are reckoned with their key: cacheMaxBytes sees what they take', async () => {
  const protocol = protocolFor({ maxOnlineTokenLength: 65536 });
  try {
    const count = 20;
    for (let i = 0; i < count; i++) {
      const decision = await protocol.validate({ 'x-auth-token': `${i}`.padEnd(15_000, 'g') });
      assert.equal(decision.status, 'invalid');
    }
    assert.equal(protocol.cache.size, count);
    assert.ok(protocol.cache.calculatedSize >= count * 15_000, `reckoned ${protocol.cache.calculatedSize} bytes for ${count} keys of 15,007 characters`);
  } finally {
    await protocol.close();
  }
});

test('online tokens longer than maxOnlineTokenLength get 401 ERR_TOKEN_TOO_LONG without a request or a cache entry', async () => {
  const protocol = protocolFor();
  try {
    await protocol.adminToken.get();
    const before = idp.requests.length;
    const decision = await protocol.validate({ 'x-auth-token': 'h'.repeat(5000) });
    assert.equal(decision.status, 'invalid');
    assert.equal(decision.status === 'invalid' && decision.error.code, 'ERR_TOKEN_TOO_LONG');
    assert.equal(idp.requests.length, before, 'the identity server was not asked');
    assert.equal(protocol.cache.size, 0);
  } finally {
    await protocol.close();
  }
});
