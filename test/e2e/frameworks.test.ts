import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import Koa from 'koa';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { keystoneFastify, keystoneHono, keystoneKoa, type AuthTokenOptions, type Health } from '../../src/index.js';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { CapturingLogger, tempDir } from '../helpers/app.js';

/** The same middleware in Fastify, Koa and Hono, each tested with the real framework over HTTP. */

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
});
after(() => idp.close());

interface Running {
  url: string;
  close(): Promise<void>;
}

const options = (extra: Partial<AuthTokenOptions> = {}): AuthTokenOptions => ({
  identity_uri: idp.url, ...idp.adminCredentials, www_authenticate_uri: 'http://keystone.example.test/', signing_dir: tempDir(),
  logger: new CapturingLogger(), http_request_max_retries: 0, unless: { path: ['/healthz'] }, ...extra,
});

/** Each app answers /whoami with the identity headers it saw and the identity the adapter put on the request. */
const FRAMEWORKS: Record<string, (extra?: Partial<AuthTokenOptions>) => Promise<Running>> = {
  async fastify(extra) {
    const app = Fastify();
    await app.register(keystoneFastify, options(extra));
    app.get('/whoami', async (request) => ({ roles: request.headers['x-roles'] ?? null, forged: request.headers['x_roles'] ?? null, user: request.keystone?.user.id ?? null }));
    app.get('/healthz', async () => ({ ok: true }));
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: address, close: () => app.close() };
  },
  async koa(extra) {
    const auth = keystoneKoa(options(extra));
    const app = new Koa();
    app.use(auth);
    app.use((ctx) => {
      ctx.body = ctx.path === '/healthz' ? { ok: true } : { roles: ctx.get('x-roles') || null, forged: ctx.get('x_roles') || null, user: ctx.state.keystone?.user.id ?? null };
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        await auth.close();
      },
    };
  },
  async hono(extra) {
    const auth = keystoneHono(options(extra));
    const app = new Hono();
    app.use(auth);
    app.get('/whoami', (c) => c.json({ roles: c.req.header('x-roles') ?? null, forged: c.req.header('x_roles') ?? null, user: c.get('keystone')?.user.id ?? null }));
    app.get('/healthz', (c) => c.json({ ok: true }));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: async () => {
        await new Promise((resolve) => server.close(resolve));
        await auth.close();
      },
    };
  },
};

for (const [name, start] of Object.entries(FRAMEWORKS)) {
  test(`${name}: a valid token passes with identity headers and the identity on the request; forged headers stripped; no token is 401 with WWW-Authenticate; unless skips /healthz`, async () => {
    const app = await start();
    try {
      const token = await idp.issueToken({ user: `${name}-user`, roles: ['reader'] });
      const ok = await fetch(`${app.url}/whoami`, { headers: { 'x-auth-token': token, 'x-roles': 'admin', 'x_roles': 'admin' } });
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { roles: 'reader', forged: null, user: `${name}-user-id` });
      const missing = await fetch(`${app.url}/whoami`);
      assert.equal(missing.status, 401);
      assert.equal(missing.headers.get('www-authenticate'), 'Keystone uri="http://keystone.example.test/"');
      assert.equal((await missing.json()).error.reason, 'ERR_TOKEN_MISSING');
      const health = await fetch(`${app.url}/healthz`);
      assert.equal(health.status, 200, 'unless: not authenticated');
      await idp.setFault('down');
      const down = await fetch(`${app.url}/whoami`, { headers: { 'x-auth-token': await idp.issueToken({ format: 'uuid' }) } });
      assert.equal(down.status, 503);
      assert.ok(down.headers.get('retry-after'));
    } finally {
      await idp.setFault(null);
      await app.close();
    }
  });
}

test("fastify with onError 'next': the refusal goes to Fastify's error handler", async () => {
  const app = Fastify();
  await app.register(keystoneFastify, options({ onError: 'next' }));
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    void reply.code(error.statusCode ?? 500).send({ problem: error.code });
  });
  app.get('/whoami', async () => ({ ok: true }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const refused = await fetch(`${url}/whoami`);
    assert.equal(refused.status, 401);
    assert.deepEqual(await refused.json(), { problem: 'ERR_TOKEN_MISSING' });
  } finally {
    await app.close();
  }
});

test('readiness and health from each adapter, typed: fastify.keystone, and the Koa and Hono middleware objects', async () => {
  const today = () => options({ identity_uri: undefined, admin_user: undefined, admin_password: undefined, admin_tenant_name: undefined, ...idp.serviceCredentials });
  const fastify = Fastify();
  await fastify.register(keystoneFastify, today());
  const koa = keystoneKoa(today());
  const hono = keystoneHono(today());
  try {
    await fastify.ready();
    const controls = [fastify.keystone, koa, hono];
    for (const control of controls) {
      await control.ready();
      const health: Health = control.health();
      assert.equal(health.identityServer.state, 'up');
      assert.equal(health.identityServer.serviceUser.state, 'authenticated');
    }
  } finally {
    await fastify.close();
    await koa.close();
    await hono.close();
  }
});
