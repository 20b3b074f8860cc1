import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authToken, type AuthTokenOptions } from '../../src/index.js';
import { normalPath, routedPath } from '../../src/adapters/request-target.js';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { CapturingLogger, tempDir } from '../helpers/app.js';
import { FRAMEWORK_NAMES, rawRequest, startFramework, type FrameworkApp, type FrameworkName } from '../helpers/framework-apps.js';

/**
 * `unless` is matched against the path each framework routes, and a request-target that is not in normal form is
 * refused (400, ERR_REQUEST_PATH) before `unless` is consulted: written raw on a socket (fetch would drop the
 * fragment and resolve the dots), none of these targets reaches the /admin handler of a real Express 4, Express 5,
 * connect, node:http, Fastify (with and without useSemicolonDelimiter), Koa or Hono app without a token.
 */

let idp: IdentityServer;
let token: string;
const apps = new Map<FrameworkName, FrameworkApp>();

const options = (extra: Partial<AuthTokenOptions> = {}): AuthTokenOptions => ({
  identity_uri: idp.url, ...idp.adminCredentials, www_authenticate_uri: 'http://keystone.example.test/', signing_dir: tempDir(),
  logger: new CapturingLogger(), http_request_max_retries: 0,
  // Public: scripts, and everything under /public/.
  unless: { path: [/\.js$/, /^\/public\//] },
  ...extra,
});

before(async () => {
  idp = await startIdentityServer();
  token = await idp.issueToken({ user: 'paths-user', roles: ['reader'], format: 'uuid' });
  for (const name of FRAMEWORK_NAMES) apps.set(name, await startFramework(name, options()));
});
after(async () => {
  for (const app of apps.values()) await app.close();
  await idp.close();
});

/** Request-targets that an app (one framework or another) routes to /admin while the written one looks public. */
const ATTACKS: { target: string; why: string; only?: FrameworkName[]; normal?: true }[] = [
  { target: '/admin#.js', why: 'a fragment: parseurl, find-my-way and Hono route /admin' },
  { target: '/admin#/x.js', why: 'a fragment with a slash after it' },
  { target: '/admin?#.js', why: 'a fragment after an empty query' },
  { target: '/admin;.js', why: 'find-my-way with useSemicolonDelimiter routes /admin (in normal form: matched as /admin, 401)', only: ['fastify;'], normal: true },
  { target: '/public/../admin', why: 'a dot segment: new URL() resolves it' },
  { target: '/public/./../admin', why: 'two dot segments' },
  { target: '/public/%2e%2e/admin', why: 'an encoded dot segment: new URL() resolves it' },
  { target: '/public/%2E%2e/admin', why: 'an encoded dot segment, mixed case' },
  { target: '/public/.%2E/admin', why: 'half encoded' },
  { target: '/public/..;/admin', why: 'a dot segment with a parameter' },
  { target: '/public\\..\\admin', why: 'backslashes: new URL() reads them as slashes' },
  { target: '/public/..\\admin', why: 'one backslash' },
  { target: '/public/..%5cadmin', why: 'an encoded backslash' },
  { target: '/public/..%2fadmin', why: 'an encoded slash that makes a dot segment' },
  { target: '//admin', why: 'an empty segment: new URL() reads //admin as a host' },
  { target: '/public//../admin', why: 'an empty segment and a dot segment' },
  { target: 'http://host/admin#.js', why: 'absolute-form: parseurl and find-my-way route its path' },
  { target: 'http://host/public/../admin', why: 'absolute-form with a dot segment' },
  { target: '*', why: 'asterisk-form' },
];

for (const name of FRAMEWORK_NAMES) {
  test(`${name}: no request-target outside normal form reaches /admin without a token; /admin itself is 401, /x.js is public, /admin with a token is 200`, async () => {
    const app = apps.get(name)!;
    const reached: string[] = [];
    for (const attack of ATTACKS) {
      if (attack.only && !attack.only.includes(name)) continue;
      const answer = await rawRequest(app.port, 'GET', attack.target);
      if (answer.json?.handler === 'admin' || answer.status === 200) reached.push(`${attack.target} (${attack.why}): ${answer.status} ${answer.body.slice(0, 80)}`);
      assert.ok(answer.status >= 400 && answer.status < 500, `${name} ${attack.target}: ${answer.status}`);
    }
    assert.deepEqual(reached, [], `${name}: reached /admin or answered 200 without a token`);
    assert.equal((await rawRequest(app.port, 'GET', '/admin')).status, 401);
    assert.equal((await rawRequest(app.port, 'GET', '/admin?x.js')).status, 401, 'the query is not part of the path');
    const script = await rawRequest(app.port, 'GET', '/app.js');
    assert.notEqual(script.status, 401, 'unless: /app.js is left alone');
    const ok = await rawRequest(app.port, 'GET', '/admin', { 'X-Auth-Token': token });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.handler, 'admin');
  });
}

test('the refusal is 400 with reason ERR_REQUEST_PATH wherever the middleware sees the target (frameworks that refuse it first answer 4xx themselves)', async () => {
  const frameworkOwn: string[] = [];
  for (const name of FRAMEWORK_NAMES) {
    for (const attack of ATTACKS) {
      if ((attack.only && !attack.only.includes(name)) || attack.normal) continue;
      const answer = await rawRequest(apps.get(name)!.port, 'GET', attack.target);
      if (answer.json?.error?.reason === 'ERR_REQUEST_PATH') assert.equal(answer.status, 400);
      else frameworkOwn.push(`${name} ${attack.target}: ${answer.status}`);
    }
  }
  // Which targets a framework refuses before any middleware runs (find-my-way: a fragment in absolute-form is a
  // bad URL; @hono/node-server: a backslash in the path, asterisk-form; connect runs no middleware for *).
  // Everything else reached the middleware.
  for (const line of frameworkOwn) assert.match(line, /^(fastify;? http:\/\/host\/admin#\.js: 400|hono .*\\.*: 400|hono \*: 400|connect \*: 404)$/, line);
});

test('a target not in normal form is refused whatever delay_auth_decision says, before unless; with onError next the error reaches the app without the forged headers', async () => {
  const seen: { code?: string; status?: number; roles?: unknown }[] = [];
  const auth = authToken(options({ delay_auth_decision: true, onError: 'next' }));
  const app = express();
  app.use(auth);
  app.get('/admin', (_req, res) => res.json({ handler: 'admin' }));
  app.use((error: { code?: string; status?: number }, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    seen.push({ code: error.code, status: error.status, roles: req.headers['x-roles'] ?? req.headers['x_roles'] ?? null });
    res.status(error.status ?? 500).json({ problem: error.code });
  });
  const server = createServer(app).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    const answer = await rawRequest(port, 'GET', '/admin#.js', { 'X-Roles': 'admin', 'x_roles': 'admin' });
    assert.equal(answer.status, 400);
    assert.deepEqual(answer.json, { problem: 'ERR_REQUEST_PATH' });
    assert.deepEqual(seen, [{ code: 'ERR_REQUEST_PATH', status: 400, roles: null }]);
    // Under delay_auth_decision a normal target without a token goes on, Invalid.
    assert.equal((await rawRequest(port, 'GET', '/admin')).status, 200);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await auth.close();
  }
});

test('delay_auth_decision without onError: a target not in normal form is answered 400 by the middleware, the app never runs', async () => {
  const app = await startFramework('express5', options({ delay_auth_decision: true }));
  try {
    const answer = await rawRequest(app.port, 'GET', '/public/../admin');
    assert.equal(answer.status, 400);
    assert.equal(answer.json.error.reason, 'ERR_REQUEST_PATH');
    assert.equal(answer.json.error.title, 'Bad Request');
    assert.equal(answer.headers['www-authenticate'], undefined);
  } finally {
    await app.close();
  }
});

test('normalPath keeps what is in normal form and refuses the rest; routedPath decodes as find-my-way does', () => {
  for (const target of ['/', '/admin', '/admin/', '/a/.well-known/x', '/a/b.c/..d', '/v2/servers/abc%2Fdef/action', '/%61dmin', '/a;b=c', '/a?x=../..\\', '/a%25b'])
    assert.equal(normalPath(target), target.split('?')[0], target);
  for (const target of ['', '*', 'http://h/a', 'h:80', '/a#b', '/a?b#c', '/.', '/..', '/a/.', '/a/../b', '/%2e', '/a/%2E%2E', '/a/..;x', '/a\\b', '/a%5Cb', '//', '/a//b', '/a%2F%2Fb',
    '/a/..%2Fb', '/a%2F..', '/a%zz', '/a%4', '/a%', '/a b', '/a\u00e9', '/a\u0000'])
    assert.throws(() => normalPath(target), { code: 'ERR_REQUEST_PATH', status: 400 }, JSON.stringify(target));
  const fmw = { kind: 'find-my-way', semicolonDelimiter: false } as const;
  assert.equal(routedPath('/%61dmin', fmw), '/admin');
  assert.equal(routedPath('/a%2Fb%3F%23', fmw), '/a%2Fb%3F%23', 'reserved characters stay encoded');
  assert.equal(routedPath('/a%25b', fmw), '/a%25b', '%25 stays %25');
  assert.equal(routedPath('/caf%C3%A9', fmw), '/caf\u00e9');
  assert.equal(routedPath('/admin;.js', fmw), '/admin;.js');
  assert.equal(routedPath('/admin;.js', { kind: 'find-my-way', semicolonDelimiter: true }), '/admin');
  assert.throws(() => routedPath('/caf%E9', fmw), { code: 'ERR_REQUEST_PATH' });
});

test('Fastify: unless is matched against the decoded path Fastify routes (%61dmin is /admin)', async () => {
  // A deny-list style unless ("everything but /admin is public"): the written /%61dmin would escape it.
  const app = await startFramework('fastify', options({ unless: (request) => !request.path.startsWith('/admin') }));
  try {
    const answer = await rawRequest(app.port, 'GET', '/%61dmin');
    assert.equal(answer.status, 401, answer.body);
  } finally {
    await app.close();
  }
});
