// Requests per second on cache hits: bare Express against the same app with the middleware, measured in one
// run, with autocannon as the load generator in its own process.
import express from 'express';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { authToken, type Logger } from '../src/index.js';
import { startIdentityServer, tokenBody } from '../src/testing/index.js';
import { expressjwt } from 'express-jwt';
import jwt from 'jsonwebtoken';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const autocannon = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

function listen(app: express.Express): Promise<Server> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Runs autocannon in a child process and returns its requests per second (mean). */
export function load(url: string, headers: Record<string, string>, seconds: number, connections = 50): Promise<{ rps: number; non2xx: number; p99: number }> {
  const args = [autocannon, '-c', String(connections), '-d', String(seconds), '-j'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}=${value}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('close', () => {
      try {
        const result = JSON.parse(out);
        resolve({ rps: result.requests.average, non2xx: result.non2xx, p99: result.latency.p99 });
      } catch (error) {
        reject(error);
      }
    });
  });
}

export async function benchHttp(seconds = 5): Promise<Record<string, string | number>[]> {
  const idp = await startIdentityServer();
  const token = await idp.issueToken({ catalogSize: 5 });
  const handler = (req: express.Request, res: express.Response) => res.json({ user: req.headers['x-user-id'] ?? null, ok: true });
  const bare = express().get('/v1/things', handler);
  const auth = authToken({ identity_uri: idp.url, ...idp.adminCredentials, logger: quiet });
  const guarded = express().use(auth).get('/v1/things', handler);
  // express-jwt verifying an RS256 JWT that carries the same body, signed with the same key: a signature check per request.
  const jwtToken = jwt.sign(tokenBody({ catalogSize: 5 }), idp.pki.signing.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { algorithm: 'RS256' });
  const withJwt = express()
    .use(expressjwt({ secret: idp.pki.signing.publicKey.export({ type: 'spki', format: 'pem' }) as string, algorithms: ['RS256'] }))
    .get('/v1/things', handler);
  const [bareServer, guardedServer, jwtServer] = await Promise.all([listen(bare), listen(guarded), listen(withJwt)]);
  const url = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/things`;
  await load(url(guardedServer), { 'x-auth-token': token }, 1); // warm: certificates, revocation list, cache
  const rounds = { bare: [] as number[], guarded: [] as number[], jwt: [] as number[] };
  let failures = 0;
  for (let round = 0; round < 2; round++) {
    const b = await load(url(bareServer), { 'x-auth-token': token }, seconds); // the same request, no middleware
    const g = await load(url(guardedServer), { 'x-auth-token': token }, seconds);
    const j = await load(url(jwtServer), { authorization: `Bearer ${jwtToken}` }, seconds);
    rounds.bare.push(b.rps);
    rounds.guarded.push(g.rps);
    rounds.jwt.push(j.rps);
    failures += j.non2xx;
    failures += g.non2xx;
  }
  const bareRps = Math.max(...rounds.bare);
  const guardedRps = Math.max(...rounds.guarded);
  const jwtRps = Math.max(...rounds.jwt);
  jwtServer.close();
  bareServer.close();
  guardedServer.close();
  await auth.close();
  await idp.close();
  return [
    { app: 'bare Express', 'requests/s': Math.round(bareRps), 'ratio to bare': '1.00' },
    { app: 'Express + keystone-authtoken (cache hits)', 'requests/s': Math.round(guardedRps), 'ratio to bare': (guardedRps / bareRps).toFixed(2), 'goal': '>= 0.85', 'non-2xx': failures },
    { app: `Express + express-jwt (RS256, ${jwtToken.length} chars)`, 'requests/s': Math.round(jwtRps), 'ratio to bare': (jwtRps / bareRps).toFixed(2), goal: `keystone-authtoken ${(guardedRps / jwtRps).toFixed(2)}x of this` },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await benchHttp());
  process.exit(0);
}
