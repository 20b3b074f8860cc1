import express from 'express';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { authToken, type AuthTokenMiddleware, type AuthTokenOptions, type Logger } from '../../src/index.js';
import type { IdentityServer } from '../../src/testing/index.js';

/** Log lines captured from the middleware, to assert on what it says (and never says). */
export class CapturingLogger implements Logger {
  readonly lines: { level: string; message: string; object: object }[] = [];
  debug(object: object, message = '') { this.lines.push({ level: 'debug', message, object }); }
  info(object: object, message = '') { this.lines.push({ level: 'info', message, object }); }
  warn(object: object, message = '') { this.lines.push({ level: 'warn', message, object }); }
  error(object: object, message = '') { this.lines.push({ level: 'error', message, object }); }
  text(): string {
    return this.lines.map((line) => `${line.level} ${line.message} ${JSON.stringify(line.object)}`).join('\n');
  }
}

export function tempDir(prefix = 'kat-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface TestApp {
  url: string;
  auth: AuthTokenMiddleware;
  logger: CapturingLogger;
  /** GET /whoami with the given headers: status, headers seen by the app, and the body. */
  get(headers?: Record<string, string>): Promise<{ status: number; seen: Record<string, string>; keystone: any; response: Response }>;
  close(): Promise<void>;
}

/** An Express app behind the middleware, pointed at `idp`. /whoami echoes what the app saw. */
export async function startApp(idp: IdentityServer, options: Partial<AuthTokenOptions> = {}): Promise<TestApp> {
  const logger = new CapturingLogger();
  const auth = authToken({
    identity_uri: idp.url,
    www_authenticate_uri: 'http://keystone.example.test:5000/',
    ...idp.adminCredentials,
    signing_dir: tempDir('kat-signing-'),
    http_request_max_retries: 0,
    http_connect_timeout: 2,
    logger,
    ...options,
  });
  const app = express();
  app.use(auth);
  app.get('/whoami', (req, res) => {
    const seen: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (/^(x[-_]|openstack)/.test(name)) seen[name] = String(value);
    res.json({ seen, keystone: req.keystone ?? null });
  });
  // PKI tokens with large catalogs exceed Node's 16 KB default header limit (as they did Python's servers).
  const server: Server = await new Promise((resolve) => {
    const s = createServer({ maxHeaderSize: 64 * 1024 }, app).listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    auth,
    logger,
    async get(headers = {}) {
      const response = await fetch(`${url}/whoami`, { headers });
      const text = await response.text();
      let parsed: any = {};
      try { parsed = JSON.parse(text); } catch { /* error bodies */ }
      return { status: response.status, seen: parsed.seen ?? {}, keystone: 'keystone' in parsed ? parsed.keystone : parsed, response };
    },
    async close() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
      await auth.close();
    },
  };
}
