// Revocation list of 100,000 entries: time to refresh and the longest event-loop stall during the refresh,
// against the identity server of src/testing.
import { monitorEventLoopDelay, PerformanceObserver, constants } from 'node:perf_hooks';
import { AuthProtocol, type Logger } from '../src/index.js';
import { identityServerProcess } from './child.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export async function benchRevocation(entries = 100_000): Promise<Record<string, string | number>[]> {
  // The identity server runs in its own process: the stall measured here is this library's alone.
  const { child, url, ...admin } = await identityServerProcess({ REVOKED: String(entries) });
  const idp = { url };
  const protocol = new AuthProtocol({ identity_uri: url, ...admin, logger: quiet, auth_version: 'v3' });
  await protocol.certificates.current();
  await protocol.adminToken.get();
  // Warm the identity server's signed list so that the measurement is the middleware's work.
  await fetch(`${idp.url}/v3/auth/tokens/OS-PKI/revoked`, { headers: { 'x-auth-token': await protocol.adminToken.get() } }).then((r) => r.arrayBuffer());
  const rows: Record<string, string | number>[] = [];
  // Garbage collection pauses of this thread during each round: what a stall is made of, when it is one.
  let gcPauses: { ms: number; kind: string }[] = [];
  const kinds: Record<number, string> = { [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks' };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcPauses.push({ ms: entry.duration, kind: kinds[(entry as unknown as { detail: { kind: number } }).detail.kind] ?? 'other' });
  });
  observer.observe({ entryTypes: ['gc'] });
  for (let round = 0; round < 5; round++) {
    gcPauses = [];
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const start = process.hrtime.bigint();
    await protocol.revocations.refresh();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    histogram.disable();
    await new Promise((resolve) => setImmediate(resolve)); // let the observer deliver this round's entries
    const longestGc = gcPauses.reduce((a, b) => (b.ms > a.ms ? b : a), { ms: 0, kind: '-' });
    rows.push({ round: round + 1, entries: protocol.revocations.size, 'refresh ms': ms.toFixed(0), 'longest event-loop stall ms': (histogram.max / 1e6).toFixed(1), goal: '<= 25', 'longest GC pause ms (kind)': `${longestGc.ms.toFixed(1)} (${longestGc.kind})` });
  }
  observer.disconnect();
  await protocol.close();
  child.kill('SIGTERM');
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await benchRevocation());
  process.exit(0);
}
