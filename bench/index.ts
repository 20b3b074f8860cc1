// npm run bench: every benchmark, each printing ratios against baselines measured in the same run.
import os from 'node:os';
import { benchVerify } from './verify.js';
import { benchHttp, httpPlacement } from './http.js';
import { benchRevocation, revocationGoals } from './revocation.js';
import { benchRevocationCost } from './revocation-cost.js';
import { benchHerd } from './herd.js';
import { benchManyTokens } from './many-tokens.js';
import { benchMemory } from './memory.js';
import { benchOutage } from './outage.js';

console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${os.platform()} ${os.release()}`);
console.log('\n== Cold verification of one token (RSA-2048, SHA-256) ==');
console.table(await benchVerify());
console.log(`\n== HTTP: CPU per request on cache hits and on cache misses (autocannon, 50 connections; medians of 5 alternating rounds of 4 s; each app in its own process; ${httpPlacement()}; express-jwt verifies an RS256 JWT per request) ==`);
console.table(await benchHttp());
console.log('\n== Many distinct tokens: 10,000 tokens through a cache of 2,000 entries (load generator in its own process, 32 connections, 5 s) ==');
console.table(await benchManyTokens());
console.log('\n== Thundering herd: 1,000 concurrent requests with the same uncached token ==');
console.table(await benchHerd());
console.log('\n== What a revocation list costs an uncached PKI token (10,000 entries, with audit ids and by id only) ==');
console.table(await benchRevocationCost());
console.log(`\n== Revocation lists of 100,000 and 1,000,000 entries with audit ids: refresh, stall, RSS growth (identity server in its own process; ${revocationGoals}) ==`);
console.table(await benchRevocation());
console.log('\n== Identity server blackholed (http_connect_timeout 1 s): uncached requests with the circuit breaker, and without ==');
console.table(await benchOutage());
console.log('\n== Memory of the token cache ==');
console.table(benchMemory());
process.exit(0);
