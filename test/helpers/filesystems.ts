import { chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tempDir } from './app.js';

/** A tmpfs mounted at a fresh directory, or a string saying why none can be mounted here (root and CAP_SYS_ADMIN are needed). */
export function tmpfs(options: string): { path: string; cleanup: () => void } | string {
  const path = tempDir('kat-tmpfs-');
  if (process.getuid?.() !== 0) return 'not running as root: cannot mount a tmpfs';
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', path]);
  if (mounted.status !== 0) return `mount -t tmpfs failed: ${String(mounted.stderr).trim()}`;
  return { path, cleanup: () => spawnSync('umount', ['-l', path]) };
}

/** A directory this process cannot write: a read-only tmpfs when root may mount, else mode 0500 for a non-root user. */
export function readOnlyDir(): { path: string; cleanup: () => void } | string {
  if (process.getuid?.() !== 0) {
    const path = tempDir('kat-ro-');
    chmodSync(path, 0o500);
    return { path, cleanup: () => chmodSync(path, 0o700) };
  }
  return tmpfs('ro,size=1m,mode=0700');
}

