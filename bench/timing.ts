import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Mean microseconds per call of `fn`, after a warm-up, over at least `minMs` of wall time. */
export function microsPerCall(fn: () => unknown, minMs = 400): number {
  for (let i = 0; i < 200; i++) fn();
  let calls = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  const limit = BigInt(minMs) * 1_000_000n;
  while (elapsed < limit) {
    for (let i = 0; i < 100; i++) fn();
    calls += 100;
    elapsed = process.hrtime.bigint() - start;
  }
  return Number(elapsed) / calls / 1000;
}

/** Mean microseconds per call of an async `fn`, run `runs` times in sequence. */
export async function microsPerAsyncCall(fn: () => Promise<unknown>, runs: number): Promise<number> {
  await fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) await fn();
  return Number(process.hrtime.bigint() - start) / runs / 1000;
}

/**
 * Measures several functions in alternating rounds and keeps each one's best round, so that warm-up, JIT and
 * a busy neighbour weigh the same on all of them. Returns microseconds per call, in the order given.
 */
export function compareMicros(fns: (() => unknown)[], rounds = 9, roundMs = 200): number[] {
  const best = fns.map(() => Infinity);
  for (let round = 0; round < rounds; round++) {
    fns.forEach((fn, i) => {
      best[i] = Math.min(best[i]!, microsPerCall(fn, roundMs));
    });
  }
  return best;
}

export function table(rows: Record<string, string | number>[]): void {
  console.table(rows);
}

export { monitorEventLoopDelay };
