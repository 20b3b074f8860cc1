import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashToken } from '../../src/index.js';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { startApp, tempDir } from '../helpers/app.js';

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
});
after(async () => {
  await idp.close();
});

for (const version of ['v2.0', 'v3'] as const) {
  for (const format of ['pki', 'pkiz'] as const) {
    test(`a valid ${version} ${format.toUpperCase()} token is confirmed, with identity headers and req.keystone`, async () => {
      const app = await startApp(idp, { auth_version: version });
      try {
        const token = await idp.issueToken({ user: 'alice', project: 'demo', roles: ['member', 'reader'], version, format });
        const { status, seen, keystone } = await app.get({ 'x-auth-token': token });
        assert.equal(status, 200);
        assert.equal(seen['x-identity-status'], 'Confirmed');
        assert.equal(seen['x-user-id'], 'alice-id');
        assert.equal(seen['x-user-name'], 'alice');
        assert.equal(seen['x-project-id'], 'demo-id');
        assert.equal(seen['x-project-name'], 'demo');
        assert.equal(seen['x-roles'], 'member,reader');
        assert.equal(seen['x-user-domain-id'], 'default');
        assert.equal(seen['x-tenant-id'], 'demo-id');
        assert.equal(seen['x-role'], 'member,reader');
        const catalog = JSON.parse(seen['x-service-catalog']!);
        assert.equal(catalog[1].type, 'image');
        assert.equal(catalog[1].endpoints[0].publicURL, 'http://public.example.test:9001/v1', 'v2-shaped catalog');
        assert.deepEqual(keystone.roles, ['member', 'reader']);
        assert.equal(keystone.version, version);
        assert.equal(keystone.user.id, 'alice-id');
        assert.equal(app.auth.stats.cmsVerifications, 1);
        // Second request: a cache hit, no new verification.
        assert.equal((await app.get({ 'x-auth-token': token })).status, 200);
        assert.equal(app.auth.stats.cmsVerifications, 1);
        assert.equal(app.auth.stats.cacheHits, 1);
      } finally {
        await app.close();
      }
    });
  }
}

test('no token: 401 with WWW-Authenticate naming www_authenticate_uri and a JSON body', async () => {
  const app = await startApp(idp);
  try {
    const { status, keystone, response } = await app.get();
    assert.equal(status, 401);
    assert.equal(response.headers.get('www-authenticate'), 'Keystone uri="http://keystone.example.test:5000/"');
    assert.equal(keystone.error.code, 401);
    assert.equal(keystone.error.reason, 'ERR_TOKEN_MISSING');
  } finally {
    await app.close();
  }
});

test('garbage, truncated and tampered tokens get 401 and are remembered as invalid', async () => {
  const app = await startApp(idp);
  try {
    const token = await idp.issueToken();
    for (const bad of ['MIIgarbage', 'PKIZ_garbage', token.slice(0, token.length - 40), token.slice(0, 200) + (token[200] === 'A' ? 'B' : 'A') + token.slice(201)]) {
      const { status, keystone } = await app.get({ 'x-auth-token': bad });
      assert.equal(status, 401, bad.slice(0, 20));
      assert.match(keystone.error.reason, /^ERR_/);
    }
    const before = app.auth.stats.cmsVerifications;
    assert.equal((await app.get({ 'x-auth-token': 'MIIgarbage' })).status, 401);
    assert.equal(app.auth.stats.cmsVerifications, before, 'the invalid verdict came from the cache');
  } finally {
    await app.close();
  }
});

test('forged identity headers in every spelling ("_" for "-", any case, OpenStack-System-Scope) never reach the app, with or without a valid token', async () => {
  const app = await startApp(idp, { delay_auth_decision: true });
  try {
    const forged: Record<string, string> = {
      X_Roles: 'admin', X_Identity_Status: 'Confirmed', X_User_Id: 'admin', 'X-Service_Roles': 'service', x_ROLES: 'admin',
      'X-USER_NAME': 'root', 'x_service_identity_status': 'Confirmed', 'OpenStack-System-Scope': 'all', 'openstack_system_scope': 'all',
    };
    const token = await idp.issueToken({ user: 'bob', roles: ['reader'] });
    for (const headers of [forged, { ...forged, 'x-auth-token': token }]) {
      const { seen } = await app.get(headers);
      const names = Object.keys(seen).map((name) => name.replace(/_/g, '-'));
      assert.deepEqual(names.filter((name) => ['openstack-system-scope', 'x-service-roles', 'x-service-identity-status'].includes(name)), []);
      assert.ok(!Object.keys(seen).some((name) => name.includes('_')), `an underscore spelling reached the app: ${JSON.stringify(seen)}`);
      assert.notEqual(seen['x-roles'], 'admin');
      assert.notEqual(seen['x-user-name'], 'root');
      assert.equal(seen['x-identity-status'], headers['x-auth-token'] ? 'Confirmed' : 'Invalid');
    }
  } finally {
    await app.close();
  }
});

test('identity headers sent by the client are stripped, even when the token is valid', async () => {
  const app = await startApp(idp, { delay_auth_decision: true });
  try {
    const forged = { 'x-identity-status': 'Confirmed', 'x-user-id': 'admin', 'x-roles': 'admin', 'x-service-roles': 'service', 'x-tenant-id': 'x' };
    const anonymous = await app.get(forged);
    assert.equal(anonymous.status, 200);
    assert.equal(anonymous.seen['x-identity-status'], 'Invalid');
    assert.equal(anonymous.seen['x-user-id'], undefined);
    assert.equal(anonymous.seen['x-roles'], undefined);
    assert.equal(anonymous.seen['x-service-roles'], undefined);
    assert.equal(anonymous.keystone, null);
    const token = await idp.issueToken({ user: 'bob', roles: ['reader'] });
    const real = await app.get({ ...forged, 'x-auth-token': token });
    assert.equal(real.seen['x-user-id'], 'bob-id');
    assert.equal(real.seen['x-roles'], 'reader');
    assert.equal(real.seen['x-service-roles'], undefined);
  } finally {
    await app.close();
  }
});

test('a revoked PKI or PKIZ token gets 401', async () => {
  const app = await startApp(idp);
  try {
    const pki = await idp.issueToken({ user: 'mallory' });
    const pkiz = await idp.issueToken({ user: 'mallory', format: 'pkiz' });
    idp.revoke(pki);
    idp.revoke(pkiz);
    for (const token of [pki, pkiz]) {
      const { status, keystone } = await app.get({ 'x-auth-token': token });
      assert.equal(status, 401);
      assert.equal(keystone.error.reason, 'ERR_TOKEN_REVOKED');
    }
  } finally {
    await app.close();
  }
});

test('every hash of hash_algorithms is checked against the revocation list', async () => {
  // The list names the token by sha256 only; the cache key stays md5.
  const app = await startApp(idp, { hash_algorithms: 'md5,sha256' });
  try {
    const token = await idp.issueToken({ user: 'mallory' });
    idp.revokeIds([hashToken(token, 'sha256')]);
    assert.equal((await app.get({ 'x-auth-token': token })).status, 401);
  } finally {
    await app.close();
  }
});

test('an expired token gets 401', async () => {
  const app = await startApp(idp);
  try {
    for (const format of ['pki', 'uuid'] as const) {
      const token = await idp.issueToken({ expiresIn: -60, format });
      const { status, keystone } = await app.get({ 'x-auth-token': token });
      assert.equal(status, 401);
      assert.equal(keystone.error.reason, 'ERR_TOKEN_EXPIRED');
    }
  } finally {
    await app.close();
  }
});

for (const version of ['v2.0', 'v3'] as const) {
  test(`online (UUID) tokens are validated against the identity server (${version}); unknown ones get 401`, async () => {
    const app = await startApp(idp, { auth_version: version });
    try {
      const token = await idp.issueToken({ user: 'carol', format: 'uuid', version });
      const ok = await app.get({ 'x-auth-token': token });
      assert.equal(ok.status, 200);
      assert.equal(ok.seen['x-user-id'], 'carol-id');
      assert.equal(app.auth.stats.onlineValidations, 1);
      assert.equal((await app.get({ 'x-auth-token': token })).status, 200);
      assert.equal(app.auth.stats.onlineValidations, 1, 'cached');
      const unknown = await app.get({ 'x-auth-token': 'f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0' });
      assert.equal(unknown.status, 401);
      assert.equal(unknown.keystone.error.reason, 'ERR_TOKEN_INVALID');
    } finally {
      await app.close();
    }
  });
}

test('the API version is discovered from the version document when auth_version is unset (v3 preferred)', async () => {
  const app = await startApp(idp);
  try {
    const mark = idp.requests.length;
    const token = await idp.issueToken();
    assert.equal((await app.get({ 'x-auth-token': token })).status, 200);
    const paths = idp.requests.slice(mark).map((r) => r.path);
    assert.ok(paths.includes('/'));
    assert.ok(paths.includes('/v3/OS-SIMPLE-CERT/certificates'));
    assert.ok(paths.includes('/v3/auth/tokens/OS-PKI/revoked'));
  } finally {
    await app.close();
  }
});

test('certificates are written atomically into signing_dir with mode 0600, and reused after a restart while the identity server cannot be reached', async () => {
  const dir = tempDir();
  const first = await startApp(idp, { signing_dir: dir, auth_version: 'v2.0' });
  const token = await idp.issueToken();
  try {
    assert.equal((await first.get({ 'x-auth-token': token })).status, 200);
  } finally {
    await first.close();
  }
  for (const name of ['signing_cert.pem', 'cacert.pem', 'revoked.pem']) {
    assert.equal(statSync(join(dir, name)).mode & 0o777, 0o600, name);
  }
  assert.equal(readFileSync(join(dir, 'signing_cert.pem'), 'utf8'), idp.pki.signing.pem);
  // signing_dir is the fallback: with the identity server answering, a restart asks it; while it answers 500,
  // the files stand in.
  const second = await startApp(idp, { signing_dir: dir, auth_version: 'v2.0' });
  const fresh = await idp.issueToken({ version: 'v2.0' });
  try {
    await idp.setFault('error');
    assert.equal((await second.get({ 'x-auth-token': fresh })).status, 200);
    assert.equal(second.auth.health().signingCertificate?.source, 'signing_dir');
    assert.equal(second.auth.health().revocationList?.source, 'signing_dir');
  } finally {
    await idp.setFault(null);
    await second.close();
  }
});

test('concurrent first requests fetch each file exactly once and verify the token once', async () => {
  const app = await startApp(idp, { auth_version: 'v3' });
  try {
    const mark = { signing: idp.count('/v3/OS-SIMPLE-CERT/certificates'), ca: idp.count('/v3/OS-SIMPLE-CERT/ca'), revoked: idp.count('/v3/auth/tokens/OS-PKI/revoked') };
    const token = await idp.issueToken({ format: 'pkiz' });
    const results = await Promise.all(Array.from({ length: 50 }, () => app.get({ 'x-auth-token': token })));
    assert.ok(results.every((r) => r.status === 200));
    assert.equal(idp.count('/v3/OS-SIMPLE-CERT/certificates') - mark.signing, 1);
    assert.equal(idp.count('/v3/OS-SIMPLE-CERT/ca') - mark.ca, 1);
    assert.equal(idp.count('/v3/auth/tokens/OS-PKI/revoked') - mark.revoked, 1);
    assert.equal(app.auth.stats.cmsVerifications, 1);
  } finally {
    await app.close();
  }
});

test('check_revocations_for_cached: a cached token revoked afterwards is refused once the list refreshes', async () => {
  const checking = await startApp(idp, { auth_version: 'v3', check_revocations_for_cached: 'true', revocation_cache_time: 1, revocationMaxStaleness: 1 });
  const trusting = await startApp(idp, { auth_version: 'v3', revocation_cache_time: 1, revocationMaxStaleness: 1 });
  try {
    const token = await idp.issueToken({ user: 'later-revoked', format: 'pkiz' });
    assert.equal((await checking.get({ 'x-auth-token': token })).status, 200);
    assert.equal((await trusting.get({ 'x-auth-token': token })).status, 200);
    idp.revoke(token);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await checking.get({ 'x-auth-token': token }); // may still serve the previous list while the refresh runs
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await checking.get({ 'x-auth-token': token });
    assert.equal(refused.status, 401);
    assert.equal(refused.keystone.error.reason, 'ERR_TOKEN_REVOKED');
    assert.equal((await trusting.get({ 'x-auth-token': token })).status, 200, 'without the option, the cached verdict stands (as in Python)');
  } finally {
    await checking.close();
    await trusting.close();
  }
});

test('the cache option takes any store with async get/set (e.g. Redis), in the Python TokenCache format', async () => {
  const entries = new Map<string, string>();
  const store = { async get(key: string) { return entries.get(key); }, async set(key: string, value: string) { entries.set(key, value); } };
  const first = await startApp(idp, { auth_version: 'v3', cache: store });
  const second = await startApp(idp, { auth_version: 'v3', cache: store });
  try {
    const token = await idp.issueToken({ user: 'shared' });
    assert.equal((await first.get({ 'x-auth-token': token })).status, 200);
    await first.auth.protocol.close(); // flushes the pending shared write
    const [key, value] = [...entries][0]!;
    assert.equal(key, `tokens/${(await import('node:crypto')).createHash('sha256').update(token).digest('hex')}`, 'keyed by the whole token, as keystonemiddleware 10.1 keys it');
    assert.equal(JSON.parse(value)[0].token.user.name, 'shared');
    const { status, seen } = await second.get({ 'x-auth-token': token });
    assert.equal(status, 200);
    assert.equal(seen['x-user-name'], 'shared');
    assert.equal(second.auth.stats.cmsVerifications, 0, 'the second instance used the shared entry');
  } finally {
    await first.close().catch(() => {});
    await second.close();
  }
});

test('a 401 on the revocation list fetch drops the admin token, authenticates again and retries once', async () => {
  const app = await startApp(idp, { auth_version: 'v3', revocation_cache_time: 1, revocationMaxStaleness: 0 });
  try {
    assert.equal((await app.get({ 'x-auth-token': await idp.issueToken() })).status, 200);
    const logins = idp.count('/v3/auth/tokens', 'POST');
    idp.expireAdminTokens();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.equal((await app.get({ 'x-auth-token': await idp.issueToken() })).status, 200);
    assert.equal(idp.count('/v3/auth/tokens', 'POST') - logins, 1, 'one new admin authentication');
  } finally {
    await app.close();
  }
});
