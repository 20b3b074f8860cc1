// A thundering herd: 1,000 concurrent requests carrying the same uncached token, through the Express app.
// Reports how many CMS verifications and fetches they caused (goal: one of each).
import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Agent, request } from 'undici';
import { authToken, type Logger } from '../src/index.js';
import { startIdentityServer } from '../src/testing/index.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export async function benchHerd(concurrency = 1000): Promise<Record<string, string | number>[]> {
  const idp = await startIdentityServer();
  const auth = authToken({ identity_uri: idp.url, ...idp.adminCredentials, logger: quiet, auth_version: 'v3' });
  const app = express().use(auth).get('/', (_req, res) => res.end('ok'));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const token = await idp.issueToken({ catalogSize: 5 });
  const agent = new Agent({ connections: concurrency, pipelining: 0 });
  const start = process.hrtime.bigint();
  const statuses = await Promise.all(Array.from({ length: concurrency }, () => request(url, { headers: { 'x-auth-token': token }, dispatcher: agent }).then(async (r) => {
    await r.body.dump();
    return r.statusCode;
  })));
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const stats = auth.stats;
  const rows = [{
    requests: concurrency,
    'HTTP 200': statuses.filter((s) => s === 200).length,
    'CMS verifications': stats.cmsVerifications,
    'signing cert fetches': idp.count('/v3/OS-SIMPLE-CERT/certificates'),
    'CA fetches': idp.count('/v3/OS-SIMPLE-CERT/ca'),
    'revocation list fetches': idp.count('/v3/auth/tokens/OS-PKI/revoked'),
    'wall ms': ms.toFixed(0),
  }];
  await agent.close();
  server.close();
  await auth.close();
  await idp.close();
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await benchHerd());
  process.exit(0);
}
