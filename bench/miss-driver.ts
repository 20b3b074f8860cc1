// In-process driver of the cache-miss path (token_cache_time -1) through the Express/connect adapter, for
// profiling: `node --cpu-prof --import tsx bench/miss-driver.ts [requests]`. Prints µs per request for the
// middleware alone and for the floor (decode, crypto.verify, JSON.parse, MD5) on the same token.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { authToken, type Logger } from '../src/index.js';
import { newAuditId, startIdentityServer } from '../src/testing/index.js';
import { floorMiddleware } from './floor.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const requests = Number(process.argv[2] ?? 20000);
const idp = await startIdentityServer();
const revoked = Array.from({ length: 10_000 }, () => randomBytes(16).toString('hex'));
idp.revokeIds(revoked, revoked.map(() => newAuditId()));
const token = await idp.issueToken({ catalogSize: 7 });
const middleware = authToken({ identity_uri: idp.url, ...idp.adminCredentials, logger: quiet, token_cache_time: -1 });
await middleware.ready();
const floor = floorMiddleware(idp.pki.signing.publicKey.export({ type: 'spki', format: 'pem' }) as string);

function request(): IncomingMessage {
  const rawHeaders = ['Host', '127.0.0.1:3000', 'User-Agent', 'autocannon', 'X-Auth-Token', token];
  return { url: '/v1/things', method: 'GET', headers: { host: '127.0.0.1:3000', 'user-agent': 'autocannon', 'x-auth-token': token }, rawHeaders } as unknown as IncomingMessage;
}
const res = { statusCode: 200, setHeader() {}, end() {}, headersSent: false } as unknown as ServerResponse;

async function run(label: string, handle: (req: IncomingMessage, next: (error?: unknown) => void) => void, n: number): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve, reject) => handle(request(), (error) => (error ? reject(error) : resolve())));
  }
  const used = process.cpuUsage(start);
  const micros = (used.user + used.system) / n;
  console.log(`${label}: ${micros.toFixed(1)} µs/request`);
  return micros;
}
const guarded = (req: IncomingMessage, next: (error?: unknown) => void) => {
  middleware(req, res, (error?: unknown) => {
    if (error || req.headers['x-identity-status'] !== 'Confirmed') next(error ?? new Error('not confirmed'));
    else next();
  });
};
const floored = (req: IncomingMessage, next: (error?: unknown) => void) => floor(req, res, next);
await run('warm middleware', guarded, 2000);
await run('warm floor', floored, 2000);
const only = process.argv[3]; // 'miss' or 'floor': that one alone (for a profile of it)
for (let round = 0; round < 3; round++) {
  const m = only === 'floor' ? NaN : await run('middleware (miss)', guarded, requests);
  const f = only === 'miss' ? NaN : await run('floor', floored, requests);
  if (!only) console.log(`ratio ${(m / f).toFixed(2)}`);
}
console.log(`token ${token.length} chars`);
await middleware.close();
await idp.close();
