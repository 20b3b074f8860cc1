// Many distinct tokens, more than the cache holds: throughput and p99 latency when most requests miss the cache,
// against the same app on cache hits. The load generator runs in its own process.
import express from 'express';
import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { authToken, type Logger } from '../src/index.js';
import { createTestPki, signCms, startIdentityServer, toPkiToken, tokenBody } from '../src/testing/index.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const loader = fileURLToPath(new URL('./load-tokens.ts', import.meta.url));

async function load(url: string, file: string, seconds: number): Promise<{ rps: number; p99: number; non2xx: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', loader, url, file, String(seconds), '32']);
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

export async function benchManyTokens(distinct = 10_000, cacheEntries = 2_000): Promise<Record<string, string | number>[]> {
  // The identity server serves certificates and the revocation list once, at warm-up; it stays in this process.
  const pki = await createTestPki();
  const idp = await startIdentityServer({ pki });
  const dir = mkdtempSync(join(tmpdir(), 'kat-bench-'));
  const tokens = Array.from({ length: distinct }, (_, i) => toPkiToken(signCms(Buffer.from(JSON.stringify(tokenBody({ user: `u${i}`, catalogSize: 3 }))), pki.signing)));
  writeFileSync(join(dir, 'many.txt'), tokens.join('\n'));
  writeFileSync(join(dir, 'one.txt'), tokens[0]!);
  const auth = authToken({ identity_uri: idp.url, ...idp.adminCredentials, logger: quiet, cacheMaxEntries: cacheEntries, auth_version: 'v3' });
  const app = express().use(auth).get('/', (_req, res) => res.end('ok'));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  await load(url, join(dir, 'one.txt'), 1);
  const hits = await load(url, join(dir, 'one.txt'), 5);
  const misses = await load(url, join(dir, 'many.txt'), 5);
  const verifications = auth.stats.cmsVerifications;
  server.close();
  await auth.close();
  await idp.close();
  return [
    { workload: 'one token (cache hits)', 'requests/s': Math.round(hits.rps), 'p99 ms': hits.p99.toFixed(2), 'non-2xx': hits.non2xx },
    { workload: `${distinct} tokens, cache of ${cacheEntries}`, 'requests/s': Math.round(misses.rps), 'p99 ms': misses.p99.toFixed(2), 'non-2xx': misses.non2xx, 'ratio to hits': (misses.rps / hits.rps).toFixed(2), 'CMS verifications': verifications },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await benchManyTokens());
  process.exit(0);
}
