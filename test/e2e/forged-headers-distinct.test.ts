import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { CapturingLogger, tempDir } from '../helpers/app.js';
import { rawRequest, startFramework, type FrameworkName } from '../helpers/framework-apps.js';

/**
 * Stripping forged identity headers leaves req.headers, req.headersDistinct and req.rawHeaders consistent: node
 * builds headersDistinct lazily from rawHeaders up to the count it parsed, so a rawHeaders made shorter under it
 * used to throw (500) in any handler that read req.headersDistinct.
 */

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
});
after(() => idp.close());

const NODE_FRAMEWORKS: FrameworkName[] = ['express4', 'express5', 'connect', 'node:http', 'fastify', 'koa'];

for (const name of NODE_FRAMEWORKS) {
  test(`${name}: forged X-Roles and x_roles are gone from headers, headersDistinct and rawHeaders alike, and reading headersDistinct does not throw`, async () => {
    const app = await startFramework(name, { identity_uri: idp.url, ...idp.adminCredentials, signing_dir: tempDir(), logger: new CapturingLogger(), www_authenticate_uri: 'http://keystone.example.test/' });
    try {
      const token = await idp.issueToken({ user: 'distinct-user', roles: ['reader'], format: 'uuid' });
      const answer = await rawRequest(app.port, 'GET', '/whoami', { 'X-Auth-Token': token, 'X-Roles': 'admin', 'x_roles': 'admin', 'X-Custom': 'kept', 'x-custom': 'twice' });
      assert.equal(answer.status, 200, answer.body);
      const { headers, distinct, raw } = answer.json as { headers: Record<string, string>; distinct: Record<string, string[]>; raw: string[] };
      assert.equal(headers['x-roles'], 'reader', 'the confirmed roles, not the forged ones');
      assert.equal(headers['x_roles'], undefined);
      assert.equal(distinct['x-roles'], undefined, 'no forged value left in headersDistinct');
      assert.equal(distinct['x_roles'], undefined);
      assert.deepEqual(distinct['x-custom'], ['kept', 'twice'], 'other headers intact, each value');
      const rawNames = raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      assert.ok(!rawNames.includes('x-roles') && !rawNames.includes('x_roles'), `rawHeaders: ${rawNames.join(',')}`);
      assert.equal(raw.length % 2, 0);
      assert.ok(rawNames.includes('x-custom') && rawNames.includes('x-auth-token'));
      // Without a token the forged headers go too, and the answer is 401, not 500.
      const refused = await rawRequest(app.port, 'GET', '/whoami', { 'X-Roles': 'admin', 'x_roles': 'admin' });
      assert.equal(refused.status, 401);
    } finally {
      await app.close();
    }
  });
}
