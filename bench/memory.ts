// Memory of the in-process token cache: bytes per cached token at 100,000 entries, and proof that cacheMaxBytes
// holds. Entries are what a validation stores (identity read from a real token body, identity headers computed),
// put into the cache directly so that the figure is the cache's alone. Run with --expose-gc (npm run bench does).
import { createHash } from 'node:crypto';
import { MemoryTokenCache, validEntry } from '../src/cache/token-cache.js';
import { readIdentity } from '../src/token/access-info.js';
import { userHeaders } from '../src/token/headers.js';
import { tokenBody } from '../src/testing/index.js';

const gc = (globalThis as { gc?: () => void }).gc;

function settle(): NodeJS.MemoryUsage {
  for (let i = 0; i < 3; i++) gc?.();
  return process.memoryUsage();
}

function fill(cache: MemoryTokenCache, count: number): void {
  for (let i = 0; i < count; i++) {
    const body = tokenBody({ user: `user${i}`, project: `project${i % 100}`, roles: ['member', 'reader'], catalogSize: 3 });
    const content = JSON.stringify(body);
    const identity = readIdentity(JSON.parse(content));
    const hash = createHash('md5').update(`token-${i}`).digest('hex');
    const entry = { ...validEntry(identity, 'pki', [hash]), userHeaders: userHeaders(identity, true) };
    cache.set(hash, entry, 3600_000, content.length * 3 + 200); // the size the middleware gives an entry
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
  const limit = 32 * 1024 * 1024;
  const bounded = new MemoryTokenCache({ maxEntries: entries, maxBytes: limit });
  const start = settle();
  fill(bounded, entries);
  const end = settle();
  return [
    { cache: `${entries} entries, no byte bound`, entries: unbounded.size || entries, 'heap bytes / entry': Math.round(perEntryHeap), 'RSS bytes / entry': Math.round(perEntryRss) },
    { cache: `cacheMaxBytes ${limit / 2 ** 20} MiB, ${entries} inserted`, entries: bounded.size, 'accounted bytes': bounded.calculatedSize, 'within bound': String(bounded.calculatedSize <= limit), 'heap growth MiB': ((end.heapUsed - start.heapUsed) / 2 ** 20).toFixed(1) },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(benchMemory());
}
