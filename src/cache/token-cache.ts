import { LRUCache } from 'lru-cache';
import type { ErrorCode } from '../errors.js';
import type { Identity } from '../token/access-info.js';
import type { TokenFormat } from '../token/format.js';

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
    this.lru = new LRUCache<string, CacheEntry>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: () => 1, // replaced by the explicit size given to set()
    });
  }

  get(key: string): CacheEntry | undefined {
    return this.lru.get(key);
  }

  /** Stores an entry for `ttlMs`; `size` is its approximate footprint in bytes. */
  set(key: string, entry: CacheEntry, ttlMs: number, size: number): void {
    if (ttlMs <= 0) return;
    this.lru.set(key, entry, { ttl: ttlMs, size: Math.max(1, size) });
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
