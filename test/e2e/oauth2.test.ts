import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { bearerToken, keystoneFastify, keystoneHono, keystoneKoa, oauth2Token, type AuthTokenOptions } from '../../src/index.js';
import { idp, memcached, useIdentityServerAndMemcached } from '../helpers/identity-and-memcached.js';
import { CapturingLogger, tempDir } from '../helpers/app.js';

/**
 * OAuth2 access tokens (Authorization: Bearer) in every adapter, with tokens the test kit issues at
 * POST /v3/OS-OAUTH2/token: the same cache (memory and memcached), revocation and typed errors as X-Auth-Token.
 */

useIdentityServerAndMemcached();

interface Running {
  url: string;
  logger: CapturingLogger;
  close(): Promise<void>;
}

const options = (logger: CapturingLogger, extra: Partial<AuthTokenOptions> = {}): AuthTokenOptions => ({
  identity_uri: idp.url, ...idp.adminCredentials, www_authenticate_uri: 'http://keystone.example.test/', signing_dir: tempDir(),
  logger, http_request_max_retries: 0, tokenSource: 'bearer', ...extra,
});

type Seen = { user: string | null; roles: string | null; status: string | null; authorization: string | null };

const ADAPTERS: Record<string, (extra?: Partial<AuthTokenOptions>) => Promise<Running>> = {
  async express(extra) {
    const logger = new CapturingLogger();
    const { tokenSource: _ignored, ...rest } = options(logger, extra);
    const auth = oauth2Token(rest); // the sibling factory sets tokenSource: 'bearer'
    const app = express();
    app.use(auth);
    app.get('/whoami', (req, res) => res.json({ user: req.keystone?.user.id ?? null, roles: req.headers['x-roles'] ?? null, status: req.headers['x-identity-status'] ?? null, authorization: req.headers.authorization ?? null }));
    const server = createServer(app).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, logger, close: async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); await auth.close(); } };
  },
  async fastify(extra) {
    const logger = new CapturingLogger();
    const app = Fastify();
    await app.register(keystoneFastify, options(logger, extra));
    app.get('/whoami', async (request) => ({ user: (request as unknown as { keystone?: { user: { id: string } } }).keystone?.user.id ?? null, roles: request.headers['x-roles'] ?? null, status: request.headers['x-identity-status'] ?? null, authorization: request.headers.authorization ?? null }));
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: address, logger, close: () => app.close() };
  },
  async koa(extra) {
    const logger = new CapturingLogger();
    const auth = keystoneKoa(options(logger, extra));
    const app = new Koa();
    app.use(auth);
    app.use((ctx) => {
      ctx.body = { user: (ctx.state.keystone as { user: { id: string } } | undefined)?.user.id ?? null, roles: ctx.get('x-roles') || null, status: ctx.get('x-identity-status') || null, authorization: ctx.get('authorization') || null };
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, logger, close: async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); await auth.close(); } };
  },
  async hono(extra) {
    const logger = new CapturingLogger();
    const auth = keystoneHono(options(logger, extra));
    const app = new Hono<{ Variables: { keystone?: { user: { id: string } } } }>();
    app.use(auth);
    app.get('/whoami', (c) => c.json({ user: c.get('keystone')?.user.id ?? null, roles: c.req.header('x-roles') ?? null, status: c.req.header('x-identity-status') ?? null, authorization: c.req.header('authorization') ?? null }));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, logger, close: async () => { await new Promise((r) => server.close(r)); await auth.close(); } };
  },
};

async function get(app: Running, headers: Record<string, string>) {
  const response = await fetch(`${app.url}/whoami`, { headers });
  const text = await response.text();
  return { status: response.status, www: response.headers.get('www-authenticate'), body: JSON.parse(text) as Seen & { error?: { reason?: string } } };
}

test('the test kit issues OAuth2 access tokens as Keystone does (HTTP Basic, grant_type=client_credentials) and refuses what Keystone refuses', async () => {
  const client = idp.registerOAuth2Client({ user: 'kit-client' });
  const token = await idp.issueOAuth2Token(client);
  assert.match(token, /^[0-9a-f]{32}$/);
  const post = (authorization: string, body: string) => fetch(`${idp.url}/v3/OS-OAUTH2/token`, { method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body });
  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  const wrong = await post(basic(client.clientId, 'nope'), 'grant_type=client_credentials');
  assert.equal(wrong.status, 401);
  assert.deepEqual(Object.keys(await wrong.json()), ['error', 'error_description']);
  assert.match(wrong.headers.get('www-authenticate') ?? '', /^Keystone uri="/);
  assert.equal((await (await post(basic(client.clientId, client.clientSecret), 'grant_type=password')).json()).error, 'unsupported_grant_type');
  assert.equal((await post(basic(client.clientId, client.clientSecret), '')).status, 400);
});

test('bearerToken reads "Bearer <token>" only, as keystonemiddleware (webob) does: the scheme is case-sensitive', () => {
  assert.equal(bearerToken('Bearer abc'), 'abc');
  assert.equal(bearerToken('bearer abc'), undefined);
  assert.equal(bearerToken('BEARER abc'), undefined);
  assert.equal(bearerToken('Basic abc'), undefined);
  assert.equal(bearerToken('Bearer'), undefined);
  assert.equal(bearerToken('Bearer '), undefined);
  assert.equal(bearerToken(undefined), undefined);
});

for (const [name, start] of Object.entries(ADAPTERS)) {
  test(`${name}: an OAuth2 access token in Authorization: Bearer passes (cached after one validation); X-Auth-Token, lower-case bearer, garbage and revoked tokens get 401 with a Bearer challenge`, async () => {
    const app = await start();
    try {
      const client = idp.registerOAuth2Client({ user: `${name}-client`, roles: ['reader'] });
      const token = await idp.issueOAuth2Token(client);
      const before = idp.count('/v3/auth/tokens', 'GET');
      for (let i = 0; i < 3; i++) {
        const ok = await get(app, { authorization: `Bearer ${token}`, 'x-roles': 'admin' });
        assert.equal(ok.status, 200, app.logger.text());
        assert.deepEqual(ok.body, { user: `${name}-client-id`, roles: 'reader', status: 'Confirmed', authorization: `Bearer ${token}` });
      }
      assert.equal(idp.count('/v3/auth/tokens', 'GET') - before, 1, 'validated once, then from the cache');
      const missing = await get(app, {});
      assert.equal(missing.status, 401);
      assert.equal(missing.www, 'Bearer realm="OpenStack", Keystone uri="http://keystone.example.test/"');
      assert.equal(missing.body.error?.reason, 'ERR_TOKEN_MISSING');
      assert.equal((await get(app, { 'x-auth-token': token })).status, 401, 'X-Auth-Token is not read');
      assert.equal((await get(app, { authorization: `bearer ${token}` })).status, 401, 'lower-case scheme');
      const garbage = await get(app, { authorization: 'Bearer 0123456789abcdef0123456789abcdef' });
      assert.equal(garbage.status, 401);
      assert.equal(garbage.www, 'Bearer realm="OpenStack", error="invalid_token", Keystone uri="http://keystone.example.test/"');
      assert.equal((await get(app, { authorization: `Bearer ${token} extra` })).body.error?.reason, 'ERR_TOKEN_MALFORMED');
      const revoked = await idp.issueOAuth2Token(client);
      idp.revoke(revoked);
      assert.equal((await get(app, { authorization: `Bearer ${revoked}` })).status, 401);
      const expired = await idp.issueOAuth2Token(idp.registerOAuth2Client({ user: 'late', expiresIn: -10 }));
      const late = await get(app, { authorization: `Bearer ${expired}` });
      assert.equal(late.status, 401);
      assert.equal(late.body.error?.reason, 'ERR_TOKEN_EXPIRED');
      assert.ok(!app.logger.text().includes(token), 'no whole token in the logs');
    } finally {
      await app.close();
    }
  });
}

test('bearer tokens share memcached with other nodes (the same entries as X-Auth-Token ones)', async () => {
  const first = await ADAPTERS.express!({ memcached_servers: memcached.address });
  const second = await ADAPTERS.koa!({ memcached_servers: memcached.address });
  try {
    const token = await idp.issueOAuth2Token(idp.registerOAuth2Client({ user: 'fleet' }));
    const before = idp.count('/v3/auth/tokens', 'GET');
    assert.equal((await get(first, { authorization: `Bearer ${token}` })).status, 200);
    await first.close(); // close() awaits the node's writes to memcached
    assert.equal((await get(second, { authorization: `Bearer ${token}` })).body.user, 'fleet-id');
    assert.equal(idp.count('/v3/auth/tokens', 'GET') - before, 1, 'the second node read the first one\'s entry');
  } finally {
    await first.close().catch(() => {});
    await second.close();
  }
});

test('tokenSource bearer with delay_auth_decision: a refused request goes on with X-Identity-Status: Invalid', async () => {
  const app = await ADAPTERS.fastify!({ delay_auth_decision: true });
  try {
    const outcome = await get(app, { authorization: 'bearer nope' });
    assert.equal(outcome.status, 200);
    assert.equal(outcome.body.status, 'Invalid');
    assert.equal(outcome.body.user, null);
  } finally {
    await app.close();
  }
});
