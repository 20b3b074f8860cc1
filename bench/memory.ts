// Memory of the in-process token cache: bytes per cached token at 100,000 entries, and proof that cacheMaxBytes
// holds. Entries are what a validation stores (identity read from a real token body, identity headers computed),
// put into the cache directly so that the figure is the cache's alone. Run with --expose-gc (npm run bench does).
import { createHash } from 'node:crypto';
import { entryBytes, MemoryTokenCache, validEntry } from '../src/cache/token-cache.js';
import { readIdentity } from '../src/token/access-info.js';
import { userHeaders } from '../src/token/headers.js';
import { tokenBody } from '../src/testing/index.js';

const gc = (globalThis as { gc?: () => void }).gc;

function settle(): NodeJS.MemoryUsage {
  for (let i = 0; i < 3; i++) gc?.();
  return process.memoryUsage();
}

/** Entries as the middleware stores them (identity, user headers, the size it reckons), catalogs of 0 to 12 services. */
function fill(cache: MemoryTokenCache, count: number, catalogSize?: number): void {
  for (let i = 0; i < count; i++) {
    const body = tokenBody({ user: `user${i}`, project: `project${i % 100}`, roles: ['member', 'reader'], catalogSize: catalogSize ?? i % 13 });
    const content = JSON.stringify(body);
    const identity = readIdentity(JSON.parse(content));
    const hash = createHash('md5').update(`token-${i}`).digest('hex');
    const entry = { ...validEntry(identity, 'pki', [hash]), userHeaders: userHeaders(identity, true) };
    cache.set(`pki:${hash}`, entry, 3600_000, entryBytes(content.length, entry.userHeaders));
  }
}

export function benchMemory(entries = 100_000): Record<string, string | number>[] {
  if (!gc) return [{ note: 'run with node --expose-gc for a meaningful figure' }];
  const before = settle();
  const unbounded = new MemoryTokenCache({ maxEntries: entries, maxBytes: 4 * 1024 ** 3 });
  fill(unbounded, entries);
  const after = settle();
  const perEntryHeap = (after.heapUsed - before.heapUsed) / unbounded.size;
  const perEntryRss = (after.rss - before.rss) / unbounded.size;
  unbounded.clear();
  settle();
  const rows: Record<string, string | number>[] = [
    { cache: `${entries} entries, no byte bound`, entries: unbounded.size || entries, 'heap bytes / entry': Math.round(perEntryHeap), 'RSS bytes / entry': Math.round(perEntryRss) },
  ];
  // Each bound measured in its own call: a cache left in a loop's variable stays reachable from the frame while
  // the next one's starting heap is read, so its slots would be counted out of the next one's growth.
  for (const mib of [16, 64]) for (const catalogSize of [undefined, 1, 12]) rows.push(boundedGrowth(mib, catalogSize));
  return rows;
}

/** Heap growth of a cache bounded at `mib` MiB once filled past its bound, the cache's slots included. */
function boundedGrowth(mib: number, catalogSize: number | undefined): Record<string, string | number> {
  const limit = mib * 1024 * 1024;
  const start = settle();
  const bounded = new MemoryTokenCache({ maxEntries: 100_000, maxBytes: limit }); // its slots count too
  fill(bounded, Math.ceil((limit / 2000) * 1.5), catalogSize); // more than fit
  const end = settle();
  const growth = end.heapUsed - start.heapUsed;
  const row = {
    cache: `cacheMaxBytes ${mib} MiB, catalogs of ${catalogSize ?? '0-12'} services`,
    entries: bounded.size,
    'accounted bytes': bounded.calculatedSize,
    'heap growth MiB': (growth / 2 ** 20).toFixed(1),
    'growth / bound (goal within 10%)': (growth / limit).toFixed(3),
  };
  bounded.clear();
  return row;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(benchMemory());
}
