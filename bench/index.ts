// npm run bench: every benchmark, each printing ratios against baselines measured in the same run.
import os from 'node:os';
import { benchVerify } from './verify.js';
import { benchHostileTokens } from './hostile-tokens.js';
import { benchHttp, httpPlacement } from './http.js';
import { benchRevocation, revocationGoals } from './revocation.js';
import { benchRevocationCost } from './revocation-cost.js';
import { benchHerd } from './herd.js';
import { benchManyTokens } from './many-tokens.js';
import { benchMemory } from './memory.js';
import { benchOutage } from './outage.js';
import { benchRevocationEvents } from './revocation-events.js';

console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${os.platform()} ${os.release()}`);
console.log('\n== Cold verification of one token (RSA-2048, SHA-256) ==');
console.table(await benchVerify());
console.log('\n== Hostile PKIZ tokens (at most 10,240 characters): CPU per request against a normal token of the same size, through AuthProtocol.validate, token cache off ==');
console.table(await benchHostileTokens());
console.log(`\n== HTTP: CPU per request on cache hits and on cache misses (autocannon, 50 connections; medians of 5 alternating rounds of 4 s; each app in its own process; ${httpPlacement()}; express-jwt verifies an RS256 JWT per request) ==`);
console.table(await benchHttp());
console.log('\n== Many distinct tokens: 10,000 tokens through a cache of 2,000 entries (load generator in its own process, 32 connections, 5 s) ==');
console.table(await benchManyTokens());
console.log('\n== Thundering herd: 1,000 concurrent requests with the same uncached token ==');
console.table(await benchHerd());
console.log('\n== What a revocation list costs an uncached PKI token (10,000 entries, with audit ids and by id only) ==');
console.table(await benchRevocationCost());
console.log(`\n== A revocation list of 1,000,000 entries as Keystone writes it, changing between 10 refreshes, a request every 10 ms consulting it, with Keystone's audit ids and with odd ones: refresh, stall, RSS growth without and with forced GC (identity server in its own process; ${revocationGoals}) ==`);
{
  const revocation = benchRevocation();
  console.table(revocation.rounds);
  console.table(revocation.summaries);
}
console.log('\n== Keystone revocation events on a cache hit: 10,000 events held against none (goal: <= +3 µs) ==');
console.table(await benchRevocationEvents());
console.log('\n== Identity server blackholed (http_connect_timeout 1 s): uncached requests with the circuit breaker, and without ==');
console.table(await benchOutage());
console.log('\n== Memory of the token cache ==');
console.table(benchMemory());
process.exit(0);
