// A revocation list of 1,000,000 entries as an operator's service lives with it: the list as Keystone writes it
// (json.dumps separators, an audit id per entry) and changing between fetches, a request every 10 ms consulting
// it (check_revocations_for_cached), the app on one core (its worker thread included), and no collection forced.
// Per refresh: its time, the longest event-loop stall and GC pause during it; over the run: resident memory
// growth after the last refresh as the operator sees it (no forced GC), its peak, and the same after forcing
// collections (the figure a bench that forces GC would report). The identity server runs in its own process on the
// other cores: the time and stall measured are this library's. Each list runs in a fresh process. BENCH_DEBUG=1
// prints process.memoryUsage() at each reading and, after forced GC, the resident mappings over 4 MiB
// (/proc/self/smaps): how the causes of resident growth were found (see bench/RESULTS.md).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { subscribe } from 'node:diagnostics_channel';
import { PerformanceObserver, constants, monitorEventLoopDelay } from 'node:perf_hooks';
import { AuthProtocol, type Logger } from '../src/index.js';
import { identityServerProcess } from './child.js';
import { cannotPin, onAppCore } from './cpu-pinning.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** The goals of issue 23, for a list of 1,000,000 entries (RSS without forced GC). */
const GOALS = { refreshMs: 2000, stallMs: 15, rssMiB: 150 };

export type AuditIds = 'keystone' | 'odd';

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

const MiB = 2 ** 20;
/** How long after the last refresh the settled figure is read: revocation_cache_time's default. */
const SETTLE_MS = 10_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RoundRow {
  list: string;
  entries: number;
  round: number;
  /** From the request for the list to the new list in use. */
  'refresh ms': number;
  /** The same, to revoked.pem written and synced (refresh() resolved). */
  'revoked.pem written ms': number;
  'longest stall ms': number;
  'longest GC pause ms (kind)': string;
  'RSS growth MiB as refresh() ends (no forced GC)': number;
  'CPU stolen by the host ms': number | string;
}

export interface RunResult {
  rounds: RoundRow[];
  /** RSS growth 0.5 s after the last refresh, without forcing a collection (what the operator sees), MiB. */
  rssNoGcMiB: number;
  /** The same, SETTLE_MS later (requests going on, no collection forced), MiB. */
  rssSettledMiB: number;
  /** The highest RSS growth sampled (every 100 ms) during the run, MiB. */
  rssPeakMiB: number;
  /** RSS growth after forcing collections at the end, MiB. */
  rssForcedGcMiB: number;
  /** Requests made during the run, and how many were not accepted (must be 0). */
  requests: number;
  refused: number;
}

function label(audit: AuditIds): string {
  return audit === 'odd' ? 'odd audit ids (UUIDs)' : "Keystone's audit ids (22 characters)";
}

/** Runs in this process: `rounds` refreshes of a list of `entries` entries, changing between them. */
async function measure(entries: number, rounds: number, audit: AuditIds): Promise<RunResult> {
  const { child, url, token, ...admin } = await identityServerProcess({ REVOKED: String(entries), AUDIT_IDS: audit });
  let out = '';
  const signedAgain = () =>
    new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        out += chunk;
        if (out.includes('"signed"')) {
          out = '';
          child.stdout!.off('data', onData);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.kill('SIGUSR2');
    });
  // revocation_cache_time long: the rounds below refresh the list; requests consult it on every cache hit.
  const protocol = new AuthProtocol({ identity_uri: url, ...admin, www_authenticate_uri: url, logger: quiet, auth_version: 'v3', check_revocations_for_cached: true, revocation_cache_time: 3600 });
  await protocol.certificates.current();
  await protocol.adminToken.get();
  await sleep(200);
  const rssBefore = process.memoryUsage.rss();
  if (process.env.BENCH_DEBUG) console.error('before', process.memoryUsage());
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 100);
  // A request every 10 ms with a cached token: each consults the revocation list.
  let requests = 0;
  let refused = 0;
  const traffic = setInterval(() => {
    requests++;
    void Promise.resolve(protocol.decide({ 'x-auth-token': token })).then((decision) => {
      if (decision.status !== 'confirmed') refused++;
    });
  }, 10);
  let gcPauses: { ms: number; kind: string }[] = [];
  const kinds: Record<number, string> = { [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks' };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcPauses.push({ ms: entry.duration, kind: kinds[(entry as unknown as { detail: { kind: number } }).detail.kind] ?? 'other' });
  });
  observer.observe({ entryTypes: ['gc'] });
  // When each new list was put in use (the library's revocation-refresh diagnostics event): before its
  // revoked.pem is written.
  let inUseMs = NaN;
  subscribe('keystone-authtoken:revocation-refresh', (event) => {
    const { ok, durationMs } = event as { ok: boolean; durationMs: number };
    if (ok) inUseMs = durationMs;
  });
  const rows: RoundRow[] = [];
  for (let round = 0; round < rounds; round++) {
    // A list that changed since the last round: fetched, read and written in full (an unchanged one is only
    // re-dated on disk, see RevocationList.store).
    if (round > 0) await signedAgain();
    gcPauses = [];
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const stolenBefore = stolenMs();
    inUseMs = NaN;
    const start = process.hrtime.bigint();
    await protocol.revocations.refresh();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const stolenAfter = stolenMs();
    histogram.disable();
    await new Promise((resolve) => setImmediate(resolve)); // let the observer deliver this round's entries
    const longestGc = gcPauses.reduce((a, b) => (b.ms > a.ms ? b : a), { ms: 0, kind: '-' });
    rows.push({
      list: label(audit),
      entries: protocol.revocations.size,
      round: round + 1,
      'refresh ms': Math.round(inUseMs),
      'revoked.pem written ms': Math.round(ms),
      'longest stall ms': +(histogram.max / 1e6).toFixed(1),
      'longest GC pause ms (kind)': `${longestGc.ms.toFixed(1)} (${longestGc.kind})`,
      'RSS growth MiB as refresh() ends (no forced GC)': Math.round((process.memoryUsage.rss() - rssBefore) / MiB),
      'CPU stolen by the host ms': stolenBefore === undefined || stolenAfter === undefined ? '-' : Math.round(stolenAfter - stolenBefore),
    });
  }
  // Requests go on, the list in use, as between two refreshes: resident memory just after the last refresh, and
  // once revocation_cache_time (10 s by default) has passed, collections left to V8 alone.
  await sleep(500);
  const rssNoGc = process.memoryUsage.rss();
  if (process.env.BENCH_DEBUG) console.error('no GC', process.memoryUsage());
  await sleep(SETTLE_MS);
  const rssSettled = process.memoryUsage.rss();
  if (process.env.BENCH_DEBUG) console.error('settled', process.memoryUsage());
  clearInterval(traffic);
  clearInterval(sampler);
  observer.disconnect();
  for (let i = 0; i < 3; i++) {
    global.gc?.();
    await sleep(100);
  }
  const rssForced = process.memoryUsage.rss();
  if (process.env.BENCH_DEBUG) {
    console.error('forced GC', process.memoryUsage());
    const maps = readFileSync('/proc/self/smaps', 'latin1').split('\n');
    let head = '';
    for (const line of maps) {
      if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) head = line;
      const rss = /^Rss:\s+(\d+) kB/.exec(line);
      if (rss && Number(rss[1]) > 4096) console.error(Number(rss[1]) >> 10, 'MiB', head);
    }
  }
  await protocol.close();
  child.kill('SIGTERM');
  return { rounds: rows, rssNoGcMiB: (rssNoGc - rssBefore) / MiB, rssSettledMiB: (rssSettled - rssBefore) / MiB, rssPeakMiB: (Math.max(rssPeak, rssNoGc) - rssBefore) / MiB, rssForcedGcMiB: (rssForced - rssBefore) / MiB, requests, refused };
}

/** One list in a fresh process (node --expose-gc), on the app's core; its result as JSON on the last line. */
export function runRevocation(entries: number, rounds: number, audit: AuditIds): RunResult {
  const [command, args] = onAppCore(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--json', String(entries), String(rounds), audit]);
  const out = execFileSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split('\n').pop()!) as RunResult;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** One summary row per run: refresh time and stall over its rounds, both RSS figures, the goals. */
export function summary(result: RunResult): Record<string, string | number> {
  const refresh = result.rounds.map((r) => r['refresh ms']);
  const stalls = result.rounds.map((r) => r['longest stall ms']);
  const big = result.rounds[0]!.entries >= 1_000_000;
  const goal = (ok: boolean) => (big ? (ok ? 'met' : 'MISSED') : '-');
  return {
    list: result.rounds[0]!.list,
    entries: result.rounds[0]!.entries,
    refreshes: result.rounds.length,
    'refresh ms median (range)': `${Math.round(median(refresh))} (${Math.min(...refresh)}-${Math.max(...refresh)})`,
    'longest stall ms (median of rounds)': `${Math.max(...stalls)} (${median(stalls).toFixed(1)})`,
    'RSS growth MiB, no forced GC: 0.5 s after (operator)': Math.round(result.rssNoGcMiB),
    'the same 10 s later': Math.round(result.rssSettledMiB),
    'peak RSS growth MiB': Math.round(result.rssPeakMiB),
    'RSS growth MiB after forced GC': Math.round(result.rssForcedGcMiB),
    'requests every 10 ms (refused)': `${result.requests} (${result.refused})`,
    'goals: refresh / stall / RSS': `${goal(Math.max(...refresh) <= GOALS.refreshMs)} / ${goal(Math.max(...stalls) <= GOALS.stallMs)} / ${goal(result.rssNoGcMiB <= GOALS.rssMiB)}`,
  };
}

/** The 1,000,000-entry list with Keystone's audit ids, and the same with odd ones: summaries and rounds. */
export function benchRevocation(entries = 1_000_000, rounds = 10): { summaries: Record<string, string | number>[]; rounds: RoundRow[] } {
  const results = (['keystone', 'odd'] as const).map((audit) => runRevocation(entries, rounds, audit));
  return { summaries: results.map(summary), rounds: results.flatMap((r) => r.rounds) };
}

export const revocationGoals = `goals for 1,000,000 entries: every refresh <= ${GOALS.refreshMs} ms / every stall <= ${GOALS.stallMs} ms / RSS growth without forced GC <= ${GOALS.rssMiB} MiB; ${cannotPin ? `not pinned: ${cannotPin}` : 'app and its worker thread on CPU 0'}`;

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv[2] === '--json') {
    console.log(JSON.stringify(await measure(Number(process.argv[3]), Number(process.argv[4]), (process.argv[5] ?? 'keystone') as AuditIds)));
  } else {
    // bench/revocation.ts [entries] [rounds] [keystone|odd|both]
    const entries = Number(process.argv[2] ?? 1_000_000);
    const rounds = Number(process.argv[3] ?? 10);
    const which = process.argv[4] ?? 'both';
    console.log(revocationGoals);
    const results = (which === 'both' ? (['keystone', 'odd'] as const) : [which as AuditIds]).map((audit) => runRevocation(entries, rounds, audit));
    console.table(results.flatMap((r) => r.rounds));
    console.table(results.map(summary));
  }
  process.exit(0);
}
