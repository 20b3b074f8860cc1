// On a machine of few cores, the app under test and its load generator fight over the same cores, and
// requests/s move by ±10% between runs. Pinning the app to CPU 0 and the load generator to the others (Linux,
// `taskset`) makes the figures repeatable; the tables say whether it was done.
import { spawnSync } from 'node:child_process';
import os from 'node:os';

// The machine's cores, not availableParallelism(): a benchmark process already pinned to the app's core (as
// bench/revocation.ts runs its lists) would count 1, and its identity server would then share that core.
const cores = os.cpus().length;
const hasTaskset = process.platform === 'linux' && spawnSync('taskset', ['-V']).status === 0;

/** Why pinning is not possible here, or undefined when it is. */
export const cannotPin: string | undefined = cores < 2 ? `only ${cores} core` : !hasTaskset ? 'no taskset (util-linux) on this machine' : undefined;

/** The command and arguments that run `command args` on CPU 0, the app's. */
export function onAppCore(command: string, args: string[]): [string, string[]] {
  return cannotPin ? [command, args] : ['taskset', ['-c', '0', command, ...args]];
}

/** The command and arguments that run `command args` on the cores the app does not use. */
export function onLoadCores(command: string, args: string[]): [string, string[]] {
  return cannotPin ? [command, args] : ['taskset', ['-c', `1-${cores - 1}`, command, ...args]];
}

/** A line for the tables: how the processes were placed. */
export function placement(): string {
  return cannotPin ? `app and load generator share the cores (${cannotPin})` : `app pinned to CPU 0, load generator to CPU${cores > 2 ? `s 1-${cores - 1}` : ' 1'}`;
}
