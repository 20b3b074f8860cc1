import { realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * What makes signing_dir and the files in it trustworthy. Whoever can write a certificate there can make their
 * own tokens valid, and whoever can put an older revoked.pem there can un-revoke tokens: so the directory must be
 * this process user's and writable by no one else, and so must every directory above it (as sshd's StrictModes
 * decides: owned by root or this user, not writable by group or others unless sticky, as /tmp is).
 */

const STICKY = 0o1000;

/** Why the directory at `path` (and those above it) could be changed by another user; empty when none. */
export function directoryProblems(path: string, uid: number): string[] {
  const problems: string[] = [];
  const info = statSync(path);
  if (info.uid !== uid) problems.push(`${path} is owned by uid ${info.uid}, not by this process (uid ${uid})`);
  if ((info.mode & 0o022) !== 0) problems.push(`${path} is writable by ${whoElse(info)} (mode ${mode(info)})`);
  // Every directory that names it, as written and as resolved: replacing an entry of either replaces signing_dir.
  const above = new Set<string>();
  for (let dir = dirname(resolve(path)); ; dir = dirname(dir)) {
    above.add(dir);
    if (dir === dirname(dir)) break;
  }
  for (let dir = dirname(realpathSync(path)); ; dir = dirname(dir)) {
    above.add(dir);
    if (dir === dirname(dir)) break;
  }
  for (const dir of above) {
    const parent = statSync(dir);
    if (parent.uid !== 0 && parent.uid !== uid) problems.push(`${dir}, above it, is owned by uid ${parent.uid}`);
    else if ((parent.mode & 0o022) !== 0 && (parent.mode & STICKY) === 0) problems.push(`${dir}, above it, is writable by ${whoElse(parent)} (mode ${mode(parent)}) and not sticky`);
  }
  return problems;
}

/** Why a file opened in signing_dir is not to be trusted, or undefined when it is. */
export function fileProblem(info: Stats, uid: number | undefined): string | undefined {
  if (!info.isFile()) return 'not a regular file';
  if (uid !== undefined && info.uid !== uid) return `owned by uid ${info.uid}, not by this process (uid ${uid})`;
  if ((info.mode & 0o022) !== 0) return `writable by ${whoElse(info)} (mode ${mode(info)})`;
  return undefined;
}

function whoElse(info: Stats): string {
  return (info.mode & 0o020) !== 0 && (info.mode & 0o002) !== 0 ? 'group and others' : (info.mode & 0o020) !== 0 ? 'its group' : 'others';
}

function mode(info: Stats): string {
  return (info.mode & 0o7777).toString(8).padStart(4, '0');
}
