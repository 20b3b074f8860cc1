import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostileKeystone, UNICODE, type HostileKeystone } from '../helpers/hostile-keystone.js';
import { rawRequest, type FrameworkName } from '../helpers/framework-apps.js';

/**
 * Against a real Keystone 22: a user, project, role and catalog service named outside Latin-1 (one such service
 * name in the catalog used to break every token of the cloud under Hono, whose Web Headers hold byte strings only)
 * pass through every adapter, and the app reads each name back exactly.
 */

let ks: HostileKeystone;
before(async () => {
  ks = await hostileKeystone();
});
after(() => ks?.stop());

// One app per adapter: authToken (Express 5, node:http), keystoneFastify, keystoneKoa, keystoneHono.
const FRAMEWORKS: FrameworkName[] = ['express5', 'node:http', 'fastify', 'koa', 'hono'];

for (const name of FRAMEWORKS) {
  test(`${name}: user, project, role and catalog names outside Latin-1 pass without a 500 and read back exactly`, async () => {
    const app = await ks.app(name);
    const answer = await rawRequest(app.port, 'GET', '/whoami', { 'X-Auth-Token': ks.tokens.unicode! });
    assert.equal(answer.status, 200, answer.body);
    const headers = answer.json.headers as Record<string, string>;
    // Web Headers (Hono) carry byte strings: the UTF-8 bytes, one character each; node's req.headers the text.
    const read = (value: string) => (name === 'hono' ? Buffer.from(value, 'latin1').toString('utf8') : value);
    assert.match(read(headers['x-user-name']!), new RegExp(`^${UNICODE.user} `));
    assert.match(read(headers['x-project-name']!), new RegExp(`^${UNICODE.project} `));
    assert.ok(read(headers['x-roles']!).split(',').includes(UNICODE.role), headers['x-roles']);
    // The catalog is JSON in ASCII (\u escapes, as Python's json.dumps writes it): the same in every framework.
    assert.match(headers['x-service-catalog']!, /^[\x20-\x7e]*$/);
    const catalog = JSON.parse(headers['x-service-catalog']!) as { name?: string }[];
    assert.ok(catalog.some((service) => service.name === UNICODE.service), headers['x-service-catalog']);
    assert.match(answer.json.user ?? '', new RegExp(`^${UNICODE.user} `), 'the identity on the request holds the text itself');
  });
}
