import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authToken, KeystoneAuthError, type AuthTokenOptions } from '../../src/index.js';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { CapturingLogger, tempDir } from '../helpers/app.js';

/** Errors belong to the app: next(err) with a typed error, the refusal on the request under delay_auth_decision. */

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
});
after(() => idp.close());

async function serve(options: Partial<AuthTokenOptions>, build: (app: express.Express) => void) {
  const auth = authToken({ identity_uri: idp.url, ...idp.adminCredentials, www_authenticate_uri: 'http://keystone.example.test/', signing_dir: tempDir(), logger: new CapturingLogger(), http_request_max_retries: 0, ...options });
  const app = express();
  app.use(auth);
  build(app);
  const server: Server = await new Promise((resolve) => {
    const s = createServer(app).listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
      await auth.close();
    },
  };
}

test("onError 'next': the app's error handler answers (problem+json here) with the error's status, code and headers", async () => {
  const seen: unknown[] = [];
  const app = await serve({ onError: 'next' }, (app) => {
    app.get('/', (_req, res) => res.json({ ok: true }));
    app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
      seen.push(error);
      assert.ok(error instanceof KeystoneAuthError);
      const { status, code, headers } = error as KeystoneAuthError & { headers: Record<string, string> };
      res.status(status).set({ 'www-authenticate': headers['www-authenticate'] ?? '', 'x-request-id': 'r-1' }).type('application/problem+json').send({ type: `urn:keystone:${code}`, status });
    });
  });
  try {
    const missing = await fetch(`${app.url}/`);
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(missing.headers.get('www-authenticate'), 'Keystone uri="http://keystone.example.test/"');
    assert.equal(missing.headers.get('x-request-id'), 'r-1');
    assert.deepEqual(await missing.json(), { type: 'urn:keystone:ERR_TOKEN_MISSING', status: 401 });
    const ok = await fetch(`${app.url}/`, { headers: { 'x-auth-token': await idp.issueToken() } });
    assert.equal(ok.status, 200, 'a valid token goes on as before');
    await idp.setFault('down');
    const down = await fetch(`${app.url}/`, { headers: { 'x-auth-token': await idp.issueToken({ format: 'uuid' }) } });
    assert.equal(down.status, 503);
    assert.equal((seen.at(-1) as KeystoneAuthError).status, 503);
  } finally {
    await idp.setFault(null);
    await app.close();
  }
});

test('delay_auth_decision: the refusal is on the request (req.keystoneError) for the app to decide', async () => {
  const app = await serve({ delay_auth_decision: true }, (app) => {
    app.get('/', (req, res) => res.json({ status: req.headers['x-identity-status'], error: req.keystoneError ? { code: req.keystoneError.code, status: req.keystoneError.status } : null }));
  });
  try {
    const expired = await idp.issueToken({ expiresIn: -60 });
    assert.deepEqual(await (await fetch(`${app.url}/`, { headers: { 'x-auth-token': expired } })).json(), { status: 'Invalid', error: { code: 'ERR_TOKEN_EXPIRED', status: 401 } });
    assert.deepEqual(await (await fetch(`${app.url}/`, { headers: { 'x-auth-token': await idp.issueToken() } })).json(), { status: 'Confirmed', error: null });
  } finally {
    await app.close();
  }
});

test('exposeReason false keeps the error code out of the body clients see', async () => {
  const app = await serve({ exposeReason: false }, () => {});
  try {
    const body = await (await fetch(`${app.url}/`)).json();
    assert.deepEqual(body, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
  } finally {
    await app.close();
  }
});

test('unless: the listed paths and methods go on without a token (Express), forged identity headers still stripped', async () => {
  const app = await serve({ unless: { path: ['/open', /^\/public\//], method: ['OPTIONS'] } }, (app) => {
    app.all('/{*rest}', (req, res) => res.json({ roles: req.headers['x-roles'] ?? null }));
  });
  try {
    for (const [method, path] of [['GET', '/open'], ['GET', '/public/logo.png'], ['OPTIONS', '/anything']] as const) {
      const response = await fetch(`${app.url}${path}?q=1`, { method, headers: { 'x-roles': 'admin' } });
      assert.equal(response.status, 200, `${method} ${path}`);
      if (method === 'GET') assert.deepEqual(await response.json(), { roles: null });
    }
    assert.equal((await fetch(`${app.url}/closed`)).status, 401);
  } finally {
    await app.close();
  }
});
