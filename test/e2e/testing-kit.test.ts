import { test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { authToken, type AuthTokenOptions } from '../../src/index.js';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { CapturingLogger, tempDir } from '../helpers/app.js';

const PYTHON = '/usr/bin/python3';

/** An Express 5 app behind the middleware, answering with who the middleware confirmed. */
async function expressApp(options: AuthTokenOptions) {
  const auth = authToken(options);
  const app = express();
  app.use(auth);
  app.get('/', (req, res) => res.json({ user: req.keystone?.user.name, project: req.keystone?.project?.name, roles: req.keystone?.roles }));
  const server = createServer(app).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    auth,
    get: (token?: string) => fetch(url, { headers: token ? { 'x-auth-token': token } : {} }),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await auth.close();
    },
  };
}

test("the README's test-kit recipe: authToken pointed at the kit's identity server, a revocation counting at once", async () => {
  const idp = await startIdentityServer();
  const app = await expressApp({ identity_uri: idp.url, ...idp.adminCredentials, www_authenticate_uri: idp.url, check_revocations_for_cached: true, signing_dir: tempDir(), logger: new CapturingLogger() });
  try {
    const token = await idp.issueToken({ user: 'alice', roles: ['member'] });
    const ok = await app.get(token);
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).user, 'alice');
    idp.revoke(token);
    await app.auth.protocol.revocations.refresh();
    assert.equal((await app.get(token)).status, 401);
  } finally {
    await app.close();
    await idp.close();
  }
});

test("the README's recommended configuration (auth_type password, auth_url, no identity_uri) against the kit: Fernet, JWS and UUID tokens pass, revoked ones get 401", async () => {
  const idp = await startIdentityServer();
  const logger = new CapturingLogger();
  const app = await expressApp({ ...idp.serviceCredentials, www_authenticate_uri: idp.url, interface: 'internal', region_name: 'RegionOne', logger });
  try {
    assert.equal(idp.serviceCredentials.auth_url, `${idp.url}/v3`);
    await app.auth.ready();
    for (const format of ['fernet', 'jws', 'uuid'] as const) {
      const token = await idp.issueToken({ user: `user-${format}`, project: 'demo', roles: ['member'], format });
      const ok = await app.get(token);
      assert.equal(ok.status, 200, `${format}: ${logger.text()}`);
      assert.deepEqual(await ok.json(), { user: `user-${format}`, project: 'demo', roles: ['member'] });
      idp.revoke(token);
      app.auth.protocol.cache.clear();
      assert.equal((await app.get(token)).status, 401, `${format} revoked`);
    }
    assert.ok(idp.count('/v3/auth/tokens', 'GET') >= 6, 'validated online');
    assert.equal(app.auth.health().identityServer.state, 'up');
  } finally {
    await app.close();
    await idp.close();
  }
});

test("the kit's Fernet tokens are Fernet: Python's cryptography decrypts them with the kit's key into Keystone's msgpack payload", async () => {
  const idp = await startIdentityServer();
  try {
    const userId = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';
    const projectId = '00112233445566778899aabbccddeeff';
    const project = await idp.issueToken({ userId, projectId, format: 'fernet', expiresIn: 600 });
    const domain = await idp.issueToken({ userId: 'not-a-uuid', domain: 'engineering', format: 'fernet' });
    assert.match(project, /^gAAAAA[\w-]+$/, 'version byte 0x80, urlsafe base64 without padding');
    const script = `
import base64, json, sys, msgpack
from cryptography.fernet import Fernet
key = base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1]))
out = []
for token in sys.argv[2:]:
    token += '=' * (-len(token) % 4)   # Keystone's restore_padding
    payload = msgpack.unpackb(Fernet(key).decrypt(token.encode()))
    def plain(v):
        if isinstance(v, bytes): return v.hex()
        if isinstance(v, (list, tuple)): return [plain(x) for x in v]
        return v
    out.append(plain(payload))
print(json.dumps(out))`;
    const run = spawnSync(PYTHON, ['-c', script, idp.fernetKey.toString('hex'), project, domain], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const [p, d] = JSON.parse(run.stdout) as [unknown[], unknown[]];
    assert.equal(p[0], 2, 'project-scoped payload version');
    assert.deepEqual(p[1], [true, userId]);
    assert.equal(p[2], 2, 'methods: password');
    assert.deepEqual(p[3], [true, projectId]);
    assert.ok(Math.abs((p[4] as number) - (Date.now() / 1000 + 600)) < 5, 'expiry as a float timestamp');
    assert.equal((p[5] as string[])[0]!.length, 32, 'audit id as 16 bytes');
    assert.equal(d[0], 1, 'domain-scoped payload version');
    assert.deepEqual(d[1], [false, 'not-a-uuid']);
  } finally {
    await idp.close();
  }
});

test("the kit's JWS tokens verify as Keystone verifies them: PyJWT, ES256, the kit's public key; header and claims as Keystone writes them", async () => {
  const idp = await startIdentityServer();
  try {
    const token = await idp.issueToken({ userId: 'u-1', projectId: 'p-1', format: 'jws' });
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
    assert.deepEqual(header, { alg: 'ES256', typ: 'JWT' });
    assert.deepEqual(Object.keys(payload), ['sub', 'iat', 'exp', 'openstack_methods', 'openstack_audit_ids', 'openstack_project_id']);
    const script = `
import json, sys, jwt
print(json.dumps(jwt.decode(sys.argv[2], sys.argv[1], algorithms='ES256')))`;
    const run = spawnSync(PYTHON, ['-c', script, idp.jwsPublicKey, token], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), payload);
    assert.equal(payload.sub, 'u-1');
    assert.equal(payload.openstack_project_id, 'p-1');
  } finally {
    await idp.close();
  }
});

test("the README's complete Fernet example ('Testing your own API') runs and passes as written", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const example = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).find((text) => text.startsWith('// test/api.test.ts'));
  assert.ok(example, 'the example is in the README');
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const file = join(root, `.readme-example-${process.pid}.test.ts`); // inside the project: its node_modules and tsconfig paths
  writeFileSync(file, example);
  try {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT; // a test process of its own, reporting as TAP
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', file], { cwd: root, encoding: 'utf8', env });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /# pass 1/);
  } finally {
    rmSync(file, { force: true });
  }
});
