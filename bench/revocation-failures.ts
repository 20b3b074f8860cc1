// A revocation list that keeps failing (issue 19, family 9): 100,000 entries, correctly signed, whose signed
// content does not parse. Two measurements, in a fresh process, without forced garbage collection:
//   traffic: 1,000 requests with an uncached PKI token, one after the other, revocation_cache_time 1 s, while
//            every refresh fails: how many downloads they cause, and resident memory growth;
//   forced:  1,000 refreshes that each download and fail (the back-off bypassed, as if the identity server
//            were asked on every back-off interval for hours): resident memory growth, so that what a failed
//            refresh leaves behind is seen (none should stay).
// Run: npx tsx bench/revocation-failures.ts [count] [entries] [forced count, default count]
import { AuthProtocol, type Logger } from '../src/index.js';
import { identityServerProcess } from './child.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const MiB = 2 ** 20;
/** A run whose memory grows past this is stopped (the process would be killed in production). */
const RSS_LIMIT_MIB = 3072;

type Row = Record<string, string | number>;

export async function benchRevocationFailures(count = 1000, entries = 100_000, forcedCount = count): Promise<Row[]> {
  const { child, url, token, ...admin } = await identityServerProcess({ REVOKED: String(entries), FAULT: 'unparseable-revocation-list' });
  const rows: Row[] = [];
  try {
    const protocol = new AuthProtocol({ identity_uri: url, ...admin, www_authenticate_uri: url, logger: quiet, auth_version: 'v3', revocation_cache_time: 1, http_request_max_retries: 0 });
    await protocol.certificates.current();
    // The server signs its list on the first request: warmed outside the measurement.
    const adminToken = await protocol.adminToken.get();
    await fetch(`${url}/v3/auth/tokens/OS-PKI/revoked`, { headers: { 'x-auth-token': adminToken } }).then((r) => r.arrayBuffer());
    const list = protocol.revocations as unknown as { fetch(): Promise<unknown>; fetchCount: number };

    const rssStart = process.memoryUsage().rss;
    const statuses: Record<string, number> = {};
    let stopped = '';
    const trafficStart = performance.now();
    for (let i = 0; i < count; i++) {
      const decision = await protocol.decide({ 'x-auth-token': token });
      const key = decision.status === 'confirmed' ? 'confirmed' : `${decision.status} ${decision.error.code}`;
      statuses[key] = (statuses[key] ?? 0) + 1;
      if ((process.memoryUsage().rss - rssStart) / MiB > RSS_LIMIT_MIB) {
        stopped = ` (stopped after ${i + 1}: RSS limit)`;
        break;
      }
    }
    const trafficMs = performance.now() - trafficStart;
    const rssTraffic = process.memoryUsage().rss;
    rows.push({
      run: `traffic: ${count} requests${stopped}`,
      downloads: list.fetchCount,
      seconds: +(trafficMs / 1000).toFixed(1),
      'RSS growth MiB': Math.round((rssTraffic - rssStart) / MiB),
      outcomes: Object.entries(statuses).map(([k, v]) => `${k} x${v}`).join(', '),
    });

    const before = list.fetchCount;
    const forcedStart = performance.now();
    let peak = 0;
    stopped = '';
    for (let i = 0; i < forcedCount; i++) {
      await list.fetch().catch(() => {});
      const growth = (process.memoryUsage().rss - rssTraffic) / MiB;
      peak = Math.max(peak, growth);
      if (growth > RSS_LIMIT_MIB) {
        stopped = ` (stopped after ${i + 1}: RSS limit)`;
        break;
      }
    }
    const forcedMs = performance.now() - forcedStart;
    // A moment for terminated workers to hand back their memory.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    rows.push({
      run: `forced: ${forcedCount} failed downloads${stopped}`,
      downloads: list.fetchCount - before,
      seconds: +(forcedMs / 1000).toFixed(1),
      'RSS growth MiB': `${Math.round((process.memoryUsage().rss - rssTraffic) / MiB)} (peak ${Math.round(peak)})`,
      outcomes: '-',
    });
    await protocol.close();
  } finally {
    child.kill('SIGTERM');
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await benchRevocationFailures(Number(process.argv[2] ?? 1000), Number(process.argv[3] ?? 100_000), Number(process.argv[4] ?? process.argv[2] ?? 1000)));
  process.exit(0);
}
