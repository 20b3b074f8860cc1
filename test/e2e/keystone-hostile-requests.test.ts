import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostileKeystone, UNICODE, type HostileKeystone } from '../helpers/hostile-keystone.js';
import { rawRequest, type FrameworkName } from '../helpers/framework-apps.js';

/**
 * Against a real Keystone 22, with the real frameworks, requests written raw on a socket:
 * - an application credential restricted to `POST /v2/servers/*\/action` (service compute) reaches that handler
 *   and no other through a request-target outside normal form (`abc#/action` is routed `/v2/servers/abc`);
 * - under delay_auth_decision, a garbage or empty X-Service-Token does not switch the access rules off;
 * - a user, project, role and catalog service named outside Latin-1 (one such service name in the catalog used
 *   to break every token of the cloud under Hono, whose Web Headers hold byte strings only) pass through every
 *   adapter, and the app reads each name back exactly.
 * One file, one set of apps: each app costs the real Keystone a service login and validations, and the
 * machine's Keystone may answer in seconds.
 */

let ks: HostileKeystone;
before(async () => {
  ks = await hostileKeystone();
});
after(() => ks?.stop());

// One set-up per way of routing (each app costs the loaded real Keystone a service login and a validation):
// parseurl (Express 4/5, connect, Koa route alike), new URL() (node:http), find-my-way with ';', Hono. Every
// framework is covered against the testing identity server in request-paths.test.ts.
const FRAMEWORKS: FrameworkName[] = ['express4', 'node:http', 'fastify;', 'hono'];

/** Targets whose written path matches `/v2/servers/*\/action` while some framework routes another one. */
const ESCAPES = [
  '/v2/servers/abc#/action',
  '/v2/servers/abc?#/action',
  '/v2/servers/abc;/action',
  '/v2/servers/..%2fabc/action',
  '/v2/servers/abc/..%2faction',
  '/v2/servers/%2e%2e/action',
  '/v2/servers/abc\\/action',
  '/v2/servers/abc%2faction',
  'http://host/v2/servers/abc#/action',
  '//v2/servers/abc/action',
];

for (const name of FRAMEWORKS) {
  test(`${name}: a credential restricted to POST /v2/servers/*/action reaches the action handler and, through no request-target, another`, async () => {
    const app = await ks.app(name);
    const allowed = await rawRequest(app.port, 'POST', '/v2/servers/abc/action', { 'X-Auth-Token': ks.tokens.ruled! });
    assert.equal(allowed.status, 200, allowed.body);
    assert.deepEqual([allowed.json.handler, allowed.json.id], ['action', 'abc']);
    const direct = await rawRequest(app.port, 'POST', '/v2/servers/abc', { 'X-Auth-Token': ks.tokens.ruled! });
    assert.equal(direct.status, 401, 'no rule allows POST /v2/servers/abc');
    const escaped: string[] = [];
    for (const target of ESCAPES) {
      const answer = await rawRequest(app.port, 'POST', target, { 'X-Auth-Token': ks.tokens.ruled! });
      // The action handler is what the rule allows (abc; is an id to Express); any other handler is an escape.
      // ('none': the app's 404, no handler reached.)
      if (answer.json?.handler !== undefined && !['action', 'none'].includes(answer.json.handler)) escaped.push(`${target}: ${answer.status} ${answer.body.slice(0, 100)}`);
    }
    assert.deepEqual(escaped, []);
  });
}

test('delay_auth_decision: a garbage or empty X-Service-Token does not switch the access rules off; a valid service token with a service role does', async () => {
  // The decision is the core's (protocol.ts); one adapter shows it end to end.
  for (const name of ['express4'] as FrameworkName[]) {
    const app = await ks.app(name, { delay_auth_decision: true });
    const status = async (service: string | undefined) => {
      const answer = await rawRequest(app.port, 'POST', '/v2/servers/abc', { 'X-Auth-Token': ks.tokens.ruled!, ...(service === undefined ? {} : { 'X-Service-Token': service }) });
      assert.equal(answer.status, 200, `${name}: ${answer.body}`);
      return answer.json.headers['x-identity-status'];
    };
    assert.equal(await status(undefined), 'Invalid', `${name}: no rule allows POST /v2/servers/abc`);
    assert.equal(await status('gAAAAABgarbage-service-token'), 'Invalid', `${name}: a garbage service token`);
    assert.equal(await status(''), 'Invalid', `${name}: an empty service token`);
    assert.equal(await status(ks.tokens.unicode!), 'Invalid', `${name}: a valid token without a service role is no service token`);
    assert.equal(await status(ks.tokens.service!), 'Confirmed', `${name}: a chain of service requests (keystonemiddleware's rule)`);
  }
});

test('without delay_auth_decision: an empty X-Service-Token is an absent one (the user token alone decides)', async () => {
  const app = await ks.app('express4');
  const answer = await rawRequest(app.port, 'GET', '/whoami', { 'X-Auth-Token': ks.tokens.unicode!, 'X-Service-Token': '' });
  assert.equal(answer.status, 200, answer.body);
  assert.equal(answer.json.headers['x-service-identity-status'], undefined);
});


// One app per adapter: authToken (Express 4, node:http), keystoneFastify, keystoneKoa, keystoneHono.
const ADAPTERS: FrameworkName[] = ['express4', 'node:http', 'fastify;', 'koa', 'hono'];

for (const name of ADAPTERS) {
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
