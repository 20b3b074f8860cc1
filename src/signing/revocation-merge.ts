import type { IdTable, RevokedTables } from './revocation-codec.js';
import { RevocationEntries, type RevokedSet } from './revoked-set.js';

/**
 * Keystone lists a revoked token until it expires. A list that verifies but no longer names an entry whose
 * `expires` has not passed is older than the one in hand (replayed on a plain-HTTP identity_uri, or served by a
 * caching proxy): such entries are kept until their `expires`, and counted so that the caller can warn.
 *
 * The tables are sorted (see revocation-codec.ts): a merge is a walk of two sorted arrays, done in slices with a
 * turn of the event loop between them, so that a list of 1,000,000 entries does not stall requests. In the common
 * case (nothing dropped early: Keystone's next list) the walk only counts, and the new list is used as it is.
 */

/** Work is checked against the clock every this many steps, and yields after SLICE_MS of it. */
const CHECK_EVERY = 4096;
const SLICE_MS = 4;

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A clock for slices of work: `due()` true when the current slice has run SLICE_MS (then yield with turn()). */
function slicer() {
  let start = performance.now();
  return {
    due(): boolean {
      if (performance.now() - start < SLICE_MS) return false;
      return true;
    },
    async yield(): Promise<void> {
      await turn();
      start = performance.now();
    },
  };
}

/** 32-bit words over a table's bytes, when its ids are whole words (MD5, SHA-256, audit ids) and aligned. */
function wordsOf(table: IdTable | undefined): Uint32Array | undefined {
  if (!table || table.width % 4 !== 0 || table.bytes.byteOffset % 4 !== 0) return undefined;
  return new Uint32Array(table.bytes.buffer, table.bytes.byteOffset, table.bytes.length >> 2);
}

export interface MergedEntries {
  entries: RevocationEntries;
  /** Entries of the current list the new one dropped before their `expires`: kept. */
  kept: number;
  /** Of those, how many expire later than `graceSeconds` from now (clock skew aside, a rollback). */
  keptBeyondGrace: number;
}

/**
 * `fresh`, plus every entry of `current` it lacks whose expiry is after `nowSeconds` (token ids and audit ids
 * alike). `current` and `fresh` are left as they are.
 */
export async function mergeRevocations(current: RevocationEntries, fresh: RevocationEntries, nowSeconds: number, graceSeconds = 60): Promise<MergedEntries> {
  const ids = await mergeSets(current.ids, fresh.ids, nowSeconds, graceSeconds);
  const audits = await mergeSets(current.auditIds, fresh.auditIds, nowSeconds, graceSeconds);
  if (!ids.tables && !audits.tables) return { entries: fresh, kept: 0, keptBeyondGrace: 0 };
  // Entries kept by id alone may be ones without an audit id: then every id Keystone could have written is checked.
  const withoutAuditId = fresh.withoutAuditId + (current.withoutAuditId > 0 ? ids.kept : 0);
  return {
    entries: new RevocationEntries({ ids: ids.tables ?? fresh.ids.built, auditIds: audits.tables ?? fresh.auditIds.built, withoutAuditId }),
    kept: Math.max(ids.kept, audits.kept),
    keptBeyondGrace: Math.max(ids.keptBeyondGrace, audits.keptBeyondGrace),
  };
}

/** The merged tables, or undefined when nothing is kept (then `fresh` serves as it is). */
async function mergeSets(current: RevokedSet, fresh: RevokedSet, now: number, grace: number): Promise<{ tables: RevokedTables | undefined; kept: number; keptBeyondGrace: number }> {
  // Each family (decoded ids, odd ids) on its own: their tables never compare with each other's.
  const decoded = await mergeFamily(current.built.tables, fresh.built.tables, now, grace);
  const odd = await mergeFamily(current.built.odd, fresh.built.odd, now, grace);
  if (!decoded.changed && !odd.changed) return { tables: undefined, kept: 0, keptBeyondGrace: 0 };
  return { tables: { tables: decoded.tables, odd: odd.tables }, kept: decoded.kept + odd.kept, keptBeyondGrace: decoded.keptBeyondGrace + odd.keptBeyondGrace };
}

/** One family of tables merged, width by width. */
async function mergeFamily(current: IdTable[], fresh: IdTable[], now: number, grace: number): Promise<{ tables: IdTable[]; changed: boolean; kept: number; keptBeyondGrace: number }> {
  let kept = 0;
  let keptBeyondGrace = 0;
  let changed = false;
  const freshByWidth = new Map(fresh.map((table) => [table.width, table]));
  for (const table of current) {
    const other = freshByWidth.get(table.width);
    const counted = await countKept(table, other, now, now + grace);
    kept += counted.kept;
    keptBeyondGrace += counted.beyond;
    if (counted.kept === 0) continue;
    changed = true;
    freshByWidth.set(table.width, await merged(table, other, counted.kept, now));
  }
  return { tables: [...freshByWidth.values()], changed, kept, keptBeyondGrace };
}

/** -1, 0 or 1: the id at `a` of `x` against the id at `b` of `y` (both `width` bytes). */
function compare(x: Uint8Array, a: number, y: Uint8Array, b: number, width: number): number {
  for (let k = 0; k < width; k++) {
    const d = x[a + k]! - y[b + k]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** How many ids of `current` are absent from `fresh` and expire after `now` (and after `beyond`). */
async function countKept(current: IdTable, fresh: IdTable | undefined, now: number, beyond: number): Promise<{ kept: number; beyond: number }> {
  const { width, count, bytes, expires } = current;
  let kept = 0;
  let late = 0;
  let j = 0;
  const other = fresh?.bytes;
  const otherCount = fresh?.count ?? 0;
  // The common case, the same ids in both: equal words are compared four bytes at a time.
  const ours = wordsOf(current);
  const theirs = ours && wordsOf(fresh);
  const words = width >> 2;
  const clock = slicer();
  for (let i = 0; i < count; ) {
    const end = Math.min(count, i + CHECK_EVERY);
    for (; i < end; i++) {
      const expiry = expires[i]!;
      if (expiry <= now) continue;
      if (theirs && j < otherCount) {
        let same = true;
        for (let k = 0, a = j * words, b = i * words; k < words; k++) {
          if (theirs[a + k] !== ours![b + k]) {
            same = false;
            break;
          }
        }
        if (same) {
          j++;
          continue;
        }
      }
      let d = 1;
      while (j < otherCount && (d = compare(other!, j * width, bytes, i * width, width)) < 0) j++;
      if (j < otherCount && d === 0) {
        j++;
        continue;
      }
      kept++;
      if (expiry > beyond) late++;
    }
    if (i < count && clock.due()) await clock.yield();
  }
  return { kept, beyond: late };
}

/** `fresh` with the `keep` ids of `current` it lacks (unexpired), as one sorted table with its index. */
async function merged(current: IdTable, fresh: IdTable | undefined, keep: number, now: number): Promise<IdTable> {
  const width = current.width;
  const otherCount = fresh?.count ?? 0;
  const count = otherCount + keep;
  const bytes = new Uint8Array(count * width);
  const expires = new Uint32Array(count);
  let o = 0;
  let i = 0;
  let j = 0;
  let steps = 0;
  const clock = slicer();
  while (i < current.count || j < otherCount) {
    if (++steps % CHECK_EVERY === 0 && clock.due()) await clock.yield();
    let takeFresh: boolean;
    if (i >= current.count) takeFresh = true;
    else if (j >= otherCount) takeFresh = false;
    else {
      const d = compare(fresh!.bytes, j * width, current.bytes, i * width, width);
      if (d === 0) i++; // in both: the fresh list's entry
      takeFresh = d <= 0;
    }
    if (takeFresh) {
      for (let k = 0, from = j * width, to = o * width; k < width; k++) bytes[to + k] = fresh!.bytes[from + k]!;
      expires[o++] = fresh!.expires[j++]!;
    } else {
      if (current.expires[i]! > now) {
        for (let k = 0, from = i * width, to = o * width; k < width; k++) bytes[to + k] = current.bytes[from + k]!;
        expires[o++] = current.expires[i]!;
      }
      i++;
    }
  }
  let bits = 4;
  while (bits < 20 && 1 << bits < o >> 2) bits++;
  bits = Math.min(bits, width * 8);
  const buckets = 1 << bits;
  const index = new Uint32Array(buckets + 1);
  const shift = 24 - bits;
  for (let n = 0; n < o; n++) {
    if (n % CHECK_EVERY === CHECK_EVERY - 1 && clock.due()) await clock.yield();
    const at = n * width;
    const p = ((bytes[at]! << 16) | ((width > 1 ? bytes[at + 1]! : 0) << 8) | (width > 2 ? bytes[at + 2]! : 0)) >>> shift;
    index[p + 1]!++;
  }
  for (let p = 0; p < buckets; p++) index[p + 1]! += index[p]!;
  return { width, count: o, bits, bytes: bytes.subarray(0, o * width), index, expires: expires.subarray(0, o) };
}
