// CPU time per request and requests per second: bare Express, Express with an empty middleware (the floor for
// any middleware), with a middleware that only hashes the token (the floor for any keystone_authtoken cache),
// with this middleware on cache hits and on cache misses (the PKI token of issue 23: a 7-service catalog, about
// 5.6 KB, verified on every request against a 10,000-entry revocation list with audit ids), with the least any PKI
// validator with a revocation list does per uncached token (the floor of a miss: bench/floor.ts), and with express-jwt (an RS256 signature checked on every request), measured
// in one run. Each app runs in its own process pinned to CPU 0, and autocannon, the load generator, in another
// on the other cores. The app's CPU time per request is the primary figure: requests/s also measure the load
// generator.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { newAuditId, startIdentityServer, tokenBody } from '../src/testing/index.js';
import jwt from 'jsonwebtoken';
import { onAppCore, onLoadCores, placement } from './cpu-pinning.js';

const autocannon = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
const appScript = fileURLToPath(new URL('./http-app.ts', import.meta.url));

/** Runs autocannon in a child process (on the load generator's cores): requests/s (mean), total, non-2xx, p99. */
export function load(url: string, headers: Record<string, string>, seconds: number, connections = 50): Promise<{ rps: number; non2xx: number; p99: number; total: number }> {
  const args = [autocannon, '-c', String(connections), '-d', String(seconds), '-j'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}=${value}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const [command, commandArgs] = onLoadCores(process.execPath, args);
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('close', () => {
      try {
        const result = JSON.parse(out);
        resolve({ rps: result.requests.average, non2xx: result.non2xx, p99: result.latency.p99, total: result.requests.total });
      } catch (error) {
        reject(error);
      }
    });
  });
}

type Kind = 'bare' | 'noop' | 'md5' | 'guarded' | 'miss' | 'floor' | 'jwt';

interface AppProcess {
  kind: Kind;
  url: string;
  child: ChildProcess;
  /** CPU time the app process has used so far, µs. */
  cpu(): Promise<number>;
}

function startApp(kind: Kind, config: object): Promise<AppProcess> {
  const [command, args] = onAppCore(process.execPath, ['--import', 'tsx', appScript, kind]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], env: { ...process.env, HTTP_APP_CONFIG: JSON.stringify(config) } });
  const cpu = () =>
    new Promise<number>((resolve) => {
      child.once('message', (message: { cpu: number }) => resolve(message.cpu));
      child.send('cpu');
    });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ kind, url: JSON.parse(line).url, child, cpu });
    });
    child.once('exit', (code) => reject(new Error(`${kind} app exited (${code})`)));
  });
}

interface Sample {
  rps: number;
  non2xx: number;
  /** CPU time of the app process per request answered, µs. */
  cpuMicros: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export async function benchHttp(seconds = 4, rounds = 5): Promise<Record<string, string | number>[]> {
  const idp = await startIdentityServer();
  // A revocation list as Keystone writes it since Kilo: 10,000 ids, each with an audit id.
  const revoked = Array.from({ length: 10_000 }, () => randomBytes(16).toString('hex'));
  idp.revokeIds(revoked, revoked.map(() => newAuditId()));
  const token = await idp.issueToken({ catalogSize: 7 });
  // express-jwt verifies an RS256 JWT that carries the same body, signed with the same key: a signature check per request.
  const jwtToken = jwt.sign(tokenBody({ catalogSize: 7 }), idp.pki.signing.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { algorithm: 'RS256' });
  const config = { identity_uri: idp.url, ...idp.adminCredentials, jwtPublicKey: idp.pki.signing.publicKey.export({ type: 'spki', format: 'pem' }) };
  const kinds: Kind[] = ['bare', 'noop', 'md5', 'guarded', 'miss', 'floor', 'jwt'];
  const apps = await Promise.all(kinds.map((kind) => startApp(kind, config)));
  const headersFor = (kind: Kind): Record<string, string> => (kind === 'jwt' ? { authorization: `Bearer ${jwtToken}` } : { 'x-auth-token': token });
  for (const app of apps) await load(app.url, headersFor(app.kind), 1); // warm: JIT, certificates, revocation list, cache
  // Rounds alternate the apps, so that a slower moment of the machine falls on all of them; a ratio is the
  // median over rounds of the ratio within a round. The app's CPU time per request is its own cost,
  // whatever the load generator does.
  const samples = Object.fromEntries(kinds.map((kind) => [kind, [] as Sample[]])) as Record<Kind, Sample[]>;
  for (let round = 0; round < rounds; round++) {
    for (const app of apps) {
      const before = await app.cpu();
      const result = await load(app.url, headersFor(app.kind), seconds);
      samples[app.kind].push({ rps: result.rps, non2xx: result.non2xx, cpuMicros: ((await app.cpu()) - before) / result.total });
    }
  }
  for (const app of apps) app.child.kill('SIGTERM');
  await idp.close();
  const rps = (kind: Kind) => Math.round(median(samples[kind].map((s) => s.rps)));
  const cpu = (kind: Kind) => median(samples[kind].map((s) => s.cpuMicros)).toFixed(0);
  const ratio = (kind: Kind, to: Kind) => median(samples[kind].map((s, i) => s.rps / samples[to][i]!.rps)).toFixed(2);
  // CPU per request relative to another app (bare Express, or the floor of a miss): the median over rounds of
  // the ratio within a round, and the spread of those ratios.
  const cpuRatios = (kind: Kind, to: Kind) => samples[kind].map((s, i) => s.cpuMicros / samples[to][i]!.cpuMicros);
  const cpuRatio = (kind: Kind, to: Kind) => median(cpuRatios(kind, to));
  const spread = (kind: Kind, to: Kind) => `${Math.min(...cpuRatios(kind, to)).toFixed(2)}-${Math.max(...cpuRatios(kind, to)).toFixed(2)}`;
  const non2xx = (kind: Kind) => samples[kind].reduce((sum, s) => sum + s.non2xx, 0);
  // Issue 23's goals: a cache hit <= 1.10x bare Express; a cache miss <= 1.20x the floor of a miss.
  const row = (app: string, kind: Kind, goal?: { to: Kind; at: number }) => ({
    app,
    'app CPU µs/request': cpu(kind),
    'CPU ratio to bare': cpuRatio(kind, 'bare').toFixed(2),
    'spread over rounds': spread(kind, 'bare'),
    'ratio of medians': (median(samples[kind].map((s) => s.cpuMicros)) / median(samples.bare.map((s) => s.cpuMicros))).toFixed(2),
    'CPU ratio to miss floor': cpuRatio(kind, 'floor').toFixed(2),
    'spread to floor': spread(kind, 'floor'),
    goal: goal ? `${goal.to === 'bare' ? 'bare' : 'floor'} x${goal.at.toFixed(2)}: ${cpuRatio(kind, goal.to) <= goal.at ? 'met' : 'MISSED'}` : '',
    'requests/s': rps(kind),
    'req/s ratio to bare': kind === 'bare' ? '1.00' : ratio(kind, 'bare'),
    'non-2xx': non2xx(kind),
  });
  return [
    row('bare Express', 'bare'),
    row('Express + empty middleware', 'noop'),
    row('Express + MD5 of the token only (the cache key)', 'md5'),
    row(`Express + keystone-authtoken, cache hits (PKI token, ${token.length} chars, 7-service catalog)`, 'guarded', { to: 'bare', at: 1.1 }),
    row('Express + keystone-authtoken, cache misses (verified every request, 10,000-entry list with audit ids)', 'miss', { to: 'floor', at: 1.2 }),
    row('Express + the floor of a miss (decode, CMS walk, crypto.verify, JSON.parse, MD5, list lookups: no other check, no headers)', 'floor'),
    row(`Express + express-jwt (RS256 verified every request, same body, ${jwtToken.length} chars)`, 'jwt'),
  ];
}

export const httpPlacement = placement;

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(placement());
  console.table(await benchHttp());
  process.exit(0);
}
