import { LRUCache } from 'lru-cache';
import type { ErrorCode } from '../errors.js';
import type { Identity } from '../token/access-info.js';
import type { TokenFormat } from '../token/format.js';
import type { RevocationSubject } from '../revocation-events/event.js';

/** A valid token's cache entry; the identity headers are computed once, on first use. */
export interface ValidEntry {
  valid: true;
  /** Deep-frozen (see readIdentity); its Dates are not frozen, hence expiresAtMs for every decision. */
  identity: Identity;
  /** The expiry, in ms since the epoch, as the token said when it was read. */
  expiresAtMs: number;
  format: TokenFormat;
  /** The token's hashes (hash_algorithms): the ids the revocation list names it by. */
  hashes: readonly string[];
  /** Every id Keystone could have written for the same signed message, once computed (see validators/pki.ts). */
  keystoneIds?: readonly string[];
  userHeaders?: Record<string, string>;
  serviceHeaders?: Record<string, string>;
  /** The revocation events generation this entry was last checked at (undefined: never checked). */
  eventsChecked?: number;
  /** What revocation events are matched against, computed on the first check. */
  revocationSubject?: RevocationSubject;
}

/** The cache entry of a valid token. */
export function validEntry(identity: Identity, format: TokenFormat, hashes: readonly string[]): ValidEntry {
  return { valid: true, identity, expiresAtMs: identity.expiresAt.getTime(), format, hashes };
}

/** What the cache remembers of a token: its identity, or that it is invalid and why. */
export type CacheEntry =
  | ValidEntry
  | { valid: false; code: ErrorCode; message: string };

/**
 * The in-process token cache: an LRU bounded by entries and by (approximate) bytes, with a time to live per
 * entry. Keys are token hashes (PKI/PKIZ) or token ids (online tokens), never logged.
 */
export class MemoryTokenCache {
  private readonly lru: LRUCache<string, CacheEntry>;

  constructor(options: { maxEntries: number; maxBytes: number }) {
    // lru-cache allocates its bookkeeping for every slot up front (24 bytes of heap each, measured): that part of
    // cacheMaxBytes is not left for entries.
    const forEntries = Math.max(options.maxBytes - options.maxEntries * SLOT_BYTES, Math.ceil(options.maxBytes / 4));
    this.lru = new LRUCache<string, CacheEntry>({
      max: options.maxEntries,
      maxSize: forEntries,
      sizeCalculation: () => 1, // replaced by the explicit size given to set()
    });
  }

  get(key: string): CacheEntry | undefined {
    return this.lru.get(key);
  }

  /**
   * Stores an entry for `ttlMs`; `size` is the entry's approximate footprint in bytes without its key: the key's
   * own bytes are added here. An online token's entry is keyed by the whole token, which a client chooses: a
   * refused 15,000-character token takes 15 KB of heap for its key alone, and is reckoned so.
   */
  set(key: string, entry: CacheEntry, ttlMs: number, size: number): void {
    if (ttlMs <= 0) return;
    this.lru.set(key, entry, { ttl: ttlMs, size: Math.max(1, size + keyBytes(key)) });
  }

  get size(): number {
    return this.lru.size;
  }

  get calculatedSize(): number {
    return this.lru.calculatedSize;
  }

  clear(): void {
    this.lru.clear();
  }
}

/**
 * What a cached entry takes on the heap, approximately: the parsed token body (objects, frozen, with their keys
 * and strings), the identity headers (one-byte strings), and a fixed part (the entry, identity, Dates, hashes,
 * the LRU's map entry). The key is counted apart (keyBytes, added by MemoryTokenCache.set). bench/memory.ts measures heap growth against cacheMaxBytes at 16 and 64 MiB.
 */
export function entryBytes(bodyBytes: number, headers: Record<string, string> | undefined): number {
  if (headers === undefined && bodyBytes === 0) return INVALID_ENTRY_BYTES;
  let headerBytes = 0;
  for (const name in headers) headerBytes += name.length + headers[name]!.length;
  return Math.round(bodyBytes * BODY_FACTOR + headerBytes + ENTRY_OVERHEAD);
}
/**
 * What a cache key takes on the heap: its characters (one byte each when all are Latin-1, else two, as V8 stores
 * strings) and a string header.
 */
export function keyBytes(key: string): number {
  return (TWO_BYTE.test(key) ? 2 * key.length : key.length) + STRING_HEADER_BYTES;
}
const TWO_BYTE = /[^\u0000-\u00ff]/;
const STRING_HEADER_BYTES = 16;
/** lru-cache's bookkeeping per slot (typed arrays and key/value arrays allocated for `max` up front). */
export const SLOT_BYTES = 24;
// Fitted on V8 heap growth per entry (bench/memory.ts) for catalogs of 0 to 30 services (470 to 15,000 bytes
// of body): 1.7 bytes per byte of body JSON, 1 per character of header, ~2.1 KB fixed; within 1% on each. The fit
// was made with 36-character keys (pki:<md5>), now counted by keyBytes(): their ~52 bytes are out of the fixed part.
// Since tokens with the same catalog share one frozen copy of it (token/catalog-memo.ts), a token whose catalog
// differs from the last one read takes more (its own catalog frozen, and its v2 form): 2.0 per byte keeps a cache
// of such tokens within 9% of cacheMaxBytes (1.087 at 16 MiB, 1.003 at 64 MiB; 1.7 gave 1.176 and 1.102), and a
// cache of tokens sharing a catalog well under it (0.23-0.81).
const BODY_FACTOR = 2;
const ENTRY_OVERHEAD = 2050;
const INVALID_ENTRY_BYTES = 350;
