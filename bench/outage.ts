// An identity server that stops answering (accepts, never replies): the latency of uncached requests, with the
// circuit breaker and without it (baseline, measured in the same run). Goal: p99 < 5 ms once the circuit is open.
import { AuthProtocol, type Logger } from '../src/index.js';
import { startIdentityServer } from '../src/testing/index.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** Times each validation; `attempted[i]`: how many requests had reached the identity server after token i. */
async function measure(idp: Awaited<ReturnType<typeof startIdentityServer>>, tokens: string[], threshold: number): Promise<{ times: number[]; attempted: number[] }> {
  const protocol = new AuthProtocol({ identity_uri: idp.url, ...idp.adminCredentials, auth_version: 'v3', logger: quiet, http_connect_timeout: 1, http_request_max_retries: 0, circuitBreakerThreshold: threshold, circuitBreakerHalfOpenAfter: 600 });
  await protocol.ready();
  const before = idp.requests.length;
  await idp.setFault('slow');
  const times: number[] = [];
  const attempted: number[] = [];
  for (const token of tokens) {
    const start = process.hrtime.bigint();
    await protocol.validate({ 'x-auth-token': token });
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    attempted.push(idp.requests.length - before);
  }
  await idp.setFault(null);
  await protocol.close();
  return { times, attempted };
}

export async function benchOutage(): Promise<Record<string, string | number>[]> {
  const idp = await startIdentityServer({ slowMs: 60_000 });
  try {
    const tokens = await Promise.all(Array.from({ length: 1005 }, (_, i) => idp.issueToken({ format: 'uuid', user: `u${i}` })));
    const open = await measure(idp, tokens, 5);
    const afterOpen = open.times.slice(5).sort((a, b) => a - b);
    const baseline = await measure(idp, tokens.slice(0, 5), 1_000_000); // no breaker: each request waits for its timeout
    const base = baseline.times.sort((a, b) => a - b);
    return [
      { case: 'no breaker (baseline)', requests: base.length, 'p50 ms': percentile(base, 50).toFixed(0), 'p99 ms': percentile(base, 99).toFixed(0), 'reached the server': baseline.attempted.at(-1)! },
      { case: 'breaker: the 5 requests that open it', requests: 5, 'p50 ms': percentile(open.times.slice(0, 5).sort((a, b) => a - b), 50).toFixed(0), 'p99 ms': '', 'reached the server': open.attempted[4]! },
      { case: 'breaker open', requests: afterOpen.length, 'p50 ms': percentile(afterOpen, 50).toFixed(3), 'p99 ms': percentile(afterOpen, 99).toFixed(3), 'reached the server': open.attempted.at(-1)! - open.attempted[4]! },
      { case: 'ratio p99 open / baseline', requests: '', 'p50 ms': '', 'p99 ms': `${(percentile(afterOpen, 99) / percentile(base, 99)).toExponential(1)} (goal p99 < 5 ms: ${percentile(afterOpen, 99) < 5 ? 'met' : 'NOT met'})`, 'reached the server': '' },
    ];
  } finally {
    await idp.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.table(await benchOutage());
