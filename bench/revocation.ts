// Revocation lists of 100,000 and 1,000,000 entries, each with an audit id as Keystone lists them since Kilo:
// refresh time, the longest event-loop stall and garbage-collection pause during the refresh, and the growth of
// resident memory once the refresh is over. The list changes by one entry between rounds, so that every round
// reads and writes a new list. The identity server runs in its own process (on the cores the app
// does not use where it can): the time and stall measured are this library's. Each size runs in a fresh process,
// so that resident memory is its own.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { PerformanceObserver, constants, monitorEventLoopDelay } from 'node:perf_hooks';
import { AuthProtocol, type Logger } from '../src/index.js';
import { identityServerProcess } from './child.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** The goals of issue 15, for a list of 1,000,000 entries. */
const GOALS = { refreshMs: 2000, stallMs: 15, rssMiB: 150 };

/**
 * CPU time the hypervisor gave to other guests ("steal", all CPUs, /proc/stat, in ms), or undefined off Linux. A
 * stall or GC pause far longer than the work in it, with steal in the same round, was the host's, not the code's.
 */
function stolenMs(): number | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/);
    return fields.length > 8 ? (Number(fields[8]) * 1000) / 100 : undefined; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

type Row = Record<string, string | number>;

/** Runs in this process: `rounds` refreshes of a list of `entries` entries. */
async function measure(entries: number, rounds: number): Promise<Row[]> {
  const { child, url, token: _token, ...admin } = await identityServerProcess({ REVOKED: String(entries) });
  const protocol = new AuthProtocol({ identity_uri: url, ...admin, www_authenticate_uri: url, logger: quiet, auth_version: 'v3' });
  await protocol.certificates.current();
  const token = await protocol.adminToken.get();
  // The server signs its list when asked for it after a change: warm it before each round, so that the
  // measurement is the middleware's work.
  const warm = () => fetch(`${url}/v3/auth/tokens/OS-PKI/revoked`, { headers: { 'x-auth-token': token } }).then((r) => r.arrayBuffer());
  await warm();
  // Collections forced between rounds, each followed by a pause in which its performance entry is delivered
  // (else it would be counted as a pause of the next round).
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      global.gc?.();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  await settle();
  const rssBefore = process.memoryUsage().rss;
  let gcPauses: { ms: number; kind: string }[] = [];
  const kinds: Record<number, string> = { [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks' };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcPauses.push({ ms: entry.duration, kind: kinds[(entry as unknown as { detail: { kind: number } }).detail.kind] ?? 'other' });
  });
  observer.observe({ entryTypes: ['gc'] });
  const rows: Row[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round > 0) {
      // A list that changed since the last round: fetched, read and written in full (an unchanged one is only
      // re-dated on disk, see RevocationList.store).
      child.kill('SIGUSR2');
      await new Promise((resolve) => setTimeout(resolve, 50));
      await warm();
      await settle();
    }
    gcPauses = [];
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const stolenBefore = stolenMs();
    const start = process.hrtime.bigint();
    await protocol.revocations.refresh();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const stolenAfter = stolenMs();
    histogram.disable();
    await new Promise((resolve) => setImmediate(resolve)); // let the observer deliver this round's entries
    const longestGc = gcPauses.reduce((a, b) => (b.ms > a.ms ? b : a), { ms: 0, kind: '-' });
    await settle();
    const rss = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    const goal = entries >= 1_000_000;
    rows.push({
      entries: protocol.revocations.size,
      round: round + 1,
      'refresh ms': Math.round(ms),
      'longest stall ms': +(histogram.max / 1e6).toFixed(1),
      'longest GC pause ms (kind)': `${longestGc.ms.toFixed(1)} (${longestGc.kind})`,
      'RSS growth MiB': Math.round(rss),
      'CPU stolen by the host ms': stolenBefore === undefined || stolenAfter === undefined ? '-' : Math.round(stolenAfter - stolenBefore),
      goals: goal ? `${ms <= GOALS.refreshMs ? 'met' : 'MISSED'} / ${histogram.max / 1e6 <= GOALS.stallMs ? 'met' : 'MISSED'} / ${rss <= GOALS.rssMiB ? 'met' : 'MISSED'}` : '-',
    });
  }
  observer.disconnect();
  await protocol.close();
  child.kill('SIGTERM');
  return rows;
}

/** Each size in a fresh process (node --expose-gc), rows as JSON on its last line of output. */
export async function benchRevocation(sizes = [100_000, 1_000_000], rounds = 5): Promise<Row[]> {
  const rows: Row[] = [];
  for (const entries of sizes) {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--json', String(entries), String(rounds)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    rows.push(...(JSON.parse(out.trim().split('\n').pop()!) as Row[]));
  }
  return rows;
}

export const revocationGoals = `goals for 1,000,000 entries: refresh <= ${GOALS.refreshMs} ms / stall <= ${GOALS.stallMs} ms / RSS growth <= ${GOALS.rssMiB} MiB`;

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv[2] === '--json') {
    console.log(JSON.stringify(await measure(Number(process.argv[3]), Number(process.argv[4]))));
  } else {
    console.log(revocationGoals);
    console.table(await benchRevocation());
  }
  process.exit(0);
}
