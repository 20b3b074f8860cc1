import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { authToken } from '../../src/index.js';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { derToPem } from '../helpers/openssl.js';
import { opensslAvailable, opensslVerify } from '../helpers/openssl.js';
import { CapturingLogger, startApp, tempDir } from '../helpers/app.js';
import { tokenToDer } from '../../src/token/format.js';

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
});
after(async () => {
  await idp.close();
});

test('delay_auth_decision: invalid and missing tokens go on with X-Identity-Status: Invalid', async () => {
  const app = await startApp(idp, { delay_auth_decision: 'true' });
  try {
    const invalid = await app.get({ 'x-auth-token': 'MIIbroken' });
    assert.equal(invalid.status, 200);
    assert.equal(invalid.seen['x-identity-status'], 'Invalid');
    assert.equal(invalid.keystone, null);
  } finally {
    await app.close();
  }
});

test('X-Service-Token: X-Service-* headers and req.keystone.service; service_token_roles honoured', async () => {
  const app = await startApp(idp, { service_token_roles_required: true });
  try {
    const user = await idp.issueToken({ user: 'alice' });
    const service = await idp.issueToken({ user: 'nova', roles: ['service'], format: 'pkiz' });
    const ok = await app.get({ 'x-auth-token': user, 'x-service-token': service });
    assert.equal(ok.status, 200);
    assert.equal(ok.seen['x-service-identity-status'], 'Confirmed');
    assert.equal(ok.seen['x-service-user-id'], 'nova-id');
    assert.equal(ok.seen['x-service-roles'], 'service');
    assert.equal(ok.seen['x-user-id'], 'alice-id');
    assert.equal(ok.keystone.service.user.id, 'nova-id');
    const unprivileged = await idp.issueToken({ user: 'eve', roles: ['member'] });
    const refused = await app.get({ 'x-auth-token': user, 'x-service-token': unprivileged });
    assert.equal(refused.status, 401);
    assert.equal(refused.keystone.error.reason, 'ERR_SERVICE_TOKEN_ROLES');
  } finally {
    await app.close();
  }
});

test('enforce_token_bind: permissive accepts unknown bind kinds, strict and required refuse what cannot be verified', async () => {
  const bound = await idp.issueToken({ bind: { x509: { fingerprint: 'ab' } } });
  const unbound = await idp.issueToken();
  const expectations: [string, string, number][] = [
    ['permissive', bound, 200], ['strict', bound, 401], ['disabled', bound, 200],
    ['required', unbound, 401], ['required', bound, 401], ['x509', unbound, 401],
  ];
  for (const [mode, token, status] of expectations) {
    const app = await startApp(idp, { enforce_token_bind: mode });
    try {
      assert.equal((await app.get({ 'x-auth-token': token })).status, status, `${mode} ${token === bound ? 'bound' : 'unbound'}`);
    } finally {
      await app.close();
    }
  }
});

test('identity values with CR/LF never split a header; __proto__ keys never pollute req.keystone', async () => {
  const app = await startApp(idp);
  try {
    const token = await idp.issueToken({ user: 'evil\r\nX-Roles: admin', roles: ['member'] });
    const { status, seen } = await app.get({ 'x-auth-token': token });
    assert.equal(status, 200);
    assert.equal(seen['x-user-name'], 'evil%0D%0AX-Roles: admin');
    assert.equal(seen['x-roles'], 'member');
    const body = JSON.parse('{"token":{"expires_at":"2099-01-01T00:00:00Z","user":{"id":"u","__proto__":{"admin":true}},"roles":[{"name":"member"}],"__proto__":{"polluted":true}}}');
    const polluted = idp.sign(body);
    const result = await app.get({ 'x-auth-token': polluted });
    assert.equal(result.status, 200);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(result.keystone.user.admin, undefined);
  } finally {
    await app.close();
  }
});

test('signed content that is not JSON or not a token body gets 401', async () => {
  const app = await startApp(idp);
  try {
    for (const content of [Buffer.from([0xff, 0xfe, 0x7b]), Buffer.from('[1,2,3]'), Buffer.from('{"token":{"user":{}}}')]) {
      const { status } = await app.get({ 'x-auth-token': idp.sign(content) });
      assert.equal(status, 401);
    }
  } finally {
    await app.close();
  }
});

test('works on plain node:http with (req, res, next)', async () => {
  const auth = authToken({ identity_uri: idp.url, ...idp.adminCredentials, logger: new CapturingLogger(), signing_dir: tempDir() });
  const server = createServer((req, res) => auth(req, res, () => res.end(`hello ${req.headers['x-user-id']}`)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    const ok = await fetch(url, { headers: { 'x-auth-token': await idp.issueToken({ user: 'dave' }) } });
    assert.equal(await ok.text(), 'hello dave-id');
    const refused = await fetch(url);
    assert.equal(refused.status, 401);
  } finally {
    server.close();
    await auth.close();
  }
});

test('tokens minted by keystone-authtoken/testing are accepted by openssl cms -verify', async (t) => {
  if (!opensslAvailable()) assert.fail('openssl is required (apt-get install -y openssl)');
  const dir = tempDir();
  writeFileSync(join(dir, 'signing.pem'), idp.pki.signing.pem);
  writeFileSync(join(dir, 'ca.pem'), idp.pki.ca.pem);
  for (const format of ['pki', 'pkiz'] as const) {
    const token = await idp.issueToken({ format, catalogSize: 6 });
    const verdict = await opensslVerify(derToPem(tokenToDer(token)), join(dir, 'signing.pem'), join(dir, 'ca.pem'));
    assert.ok(verdict.ok, verdict.stderr);
  }
  t.diagnostic('openssl accepted the minted PKI and PKIZ tokens');
});

test('works under connect and Express 4 as under Express 5', async () => {
  const { default: connect } = await import('connect');
  const { default: express4 } = await import('express4');
  const auth = authToken({ identity_uri: idp.url, ...idp.adminCredentials, logger: new CapturingLogger(), signing_dir: tempDir() });
  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => res.end(`${req.keystone?.user.name}:${req.headers['x-roles']}`);
  const apps = { connect: connect().use(auth).use(handler), express4: express4().use(auth).use(handler) };
  const token = await idp.issueToken({ user: 'erin', roles: ['member'] });
  try {
    for (const [name, app] of Object.entries(apps)) {
      const server = createServer(app as never);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      try {
        const ok = await fetch(url, { headers: { 'x-auth-token': token } });
        assert.equal(await ok.text(), 'erin:member', name);
        const refused = await fetch(url, { headers: { 'x-auth-token': 'MIInope' } });
        assert.equal(refused.status, 401, name);
        assert.match(refused.headers.get('www-authenticate') ?? '', /^Keystone uri=/, name);
      } finally {
        server.close();
      }
    }
  } finally {
    await auth.close();
  }
});

test('delay_auth_decision with a valid user token and an invalid service token: both outcomes in the headers', async () => {
  const app = await startApp(idp, { delay_auth_decision: true });
  try {
    const user = await idp.issueToken({ user: 'alice' });
    const { status, seen, keystone } = await app.get({ 'x-auth-token': user, 'x-service-token': 'MIIbogus' });
    assert.equal(status, 200);
    assert.equal(seen['x-identity-status'], 'Confirmed');
    assert.equal(seen['x-user-id'], 'alice-id');
    assert.equal(seen['x-service-identity-status'], 'Invalid');
    assert.equal(keystone.user.id, 'alice-id');
    assert.equal(keystone.service, undefined);
  } finally {
    await app.close();
  }
  const strict = await startApp(idp);
  try {
    const user = await idp.issueToken({ user: 'alice' });
    assert.equal((await strict.get({ 'x-auth-token': user, 'x-service-token': 'MIIbogus' })).status, 401, 'without delay: refused');
  } finally {
    await strict.close();
  }
});

test('a cache hit is decided in the same tick; each request gets its own req.keystone, and no app code can change what the next request sees', async () => {
  const auth = authToken({ identity_uri: idp.url, ...idp.adminCredentials, logger: new CapturingLogger(), signing_dir: tempDir() });
  const seen: { sync: boolean; roles: string; expires: string; refused: string[] }[] = [];
  const server = createServer((req, res) => {
    let returned = false;
    auth(req, res, () => {
      const keystone = req.keystone!;
      const refused: string[] = [];
      const attempt = (what: string, change: () => void) => {
        try {
          change();
        } catch (error) {
          if (error instanceof TypeError) refused.push(what);
        }
      };
      seen.push({ sync: !returned, roles: keystone.roles.join(','), expires: keystone.expiresAt.toISOString(), refused });
      attempt('roles', () => (keystone.roles as string[]).push('admin'));
      attempt('user', () => ((keystone.user as { id: string }).id = 'root'));
      attempt('body', () => ((keystone.body as { token: { roles: unknown[] } }).token.roles = []));
      keystone.expiresAt.setTime(Date.now() + 1e12); // its own copy
      (keystone as unknown as Record<string, unknown>).mine = true; // its own object
      res.end(`${req.headers['x-roles']}`);
    });
    returned = true;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    const token = await idp.issueToken({ user: 'erin', roles: ['member'] });
    for (let i = 0; i < 3; i++) {
      const response = await fetch(url, { headers: { 'x-auth-token': token } });
      assert.equal(await response.text(), 'member');
    }
    assert.deepEqual(seen.map((s) => s.sync), [false, true, true], 'the first request verifies; the next two are cache hits, decided at once');
    assert.ok(seen.every((s) => s.roles === 'member' && s.expires === seen[0]!.expires), JSON.stringify(seen));
    assert.deepEqual(seen[0]!.refused, ['roles', 'user', 'body']);
    assert.equal(auth.stats.cmsVerifications, 1);
  } finally {
    server.close();
    await auth.close();
  }
});

test('a token bound to Kerberos passes only when the remoteUser option names its principal', async () => {
  const bound = await idp.issueToken({ user: 'kerb', bind: { kerberos: 'kerb@EXAMPLE.ORG' } });
  const fromProxy = (req: { headers: Record<string, unknown> }) => req.headers['x-test-remote-user'] as string | undefined;
  const withOption = await startApp(idp, { enforce_token_bind: 'kerberos', remoteUser: fromProxy });
  const without = await startApp(idp, { enforce_token_bind: 'permissive' });
  const throwing = await startApp(idp, { enforce_token_bind: 'kerberos', remoteUser: () => { throw new Error('no principal'); } });
  try {
    for (let i = 0; i < 2; i++) { // a miss, then a cache hit: the principal is checked on every request
      assert.equal((await withOption.get({ 'x-auth-token': bound, 'x-test-remote-user': 'kerb@EXAMPLE.ORG' })).status, 200);
      assert.equal((await withOption.get({ 'x-auth-token': bound, 'x-test-remote-user': 'mallory@EXAMPLE.ORG' })).status, 401);
      assert.equal((await withOption.get({ 'x-auth-token': bound })).status, 401);
    }
    assert.equal((await without.get({ 'x-auth-token': bound })).status, 401, 'no principal known: refused, as keystonemiddleware does');
    assert.equal((await throwing.get({ 'x-auth-token': bound })).status, 401);
    assert.match(throwing.logger.text(), /remoteUser option threw/);
    assert.throws(() => authToken({ identity_uri: idp.url, remoteUser: 'x' as never }), /remoteUser must be a function/);
  } finally {
    await Promise.all([withOption.close(), without.close(), throwing.close()]);
  }
});
