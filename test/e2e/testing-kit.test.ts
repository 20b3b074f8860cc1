import { test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authToken } from '../../src/index.js';
import { startIdentityServer } from '../../src/testing/index.js';
import { CapturingLogger, tempDir } from '../helpers/app.js';

test("the README's test-kit recipe: authToken pointed at the kit's identity server, a revocation counting at once", async () => {
  const idp = await startIdentityServer();
  const auth = authToken({ identity_uri: idp.url, ...idp.adminCredentials, www_authenticate_uri: idp.url, check_revocations_for_cached: true, signing_dir: tempDir(), logger: new CapturingLogger() });
  const app = express();
  app.use(auth);
  app.get('/', (req, res) => res.json({ user: req.keystone?.user.name }));
  const server = createServer(app).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    const token = await idp.issueToken({ user: 'alice', roles: ['member'] });
    const ok = await fetch(url, { headers: { 'x-auth-token': token } });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { user: 'alice' });
    idp.revoke(token);
    await auth.protocol.revocations.refresh();
    assert.equal((await fetch(url, { headers: { 'x-auth-token': token } })).status, 401);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await auth.close();
    await idp.close();
  }
});
