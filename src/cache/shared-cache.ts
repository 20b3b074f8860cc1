import { createHash } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { ResolvedOptions } from '../options.js';
import { readIdentity } from '../token/access-info.js';
import type { TokenFormat } from '../token/format.js';
import { validEntry, type CacheEntry } from './token-cache.js';
import type { TokenStore } from './token-store.js';
import { MemcachedStore } from './memcached-store.js';
import { loadMemcachedTls } from './memcached-tls.js';
import { deriveKeys, protect, protectedCacheKey, unprotect, type SecurityStrategy } from './memcache-crypt.js';

/**
 * The marker older keystonemiddleware releases (and this library before) wrote for a token known to be invalid.
 * Neither writes it any more: read, it is a miss.
 */
export const INVALID_MARKER = 'invalid';

/**
 * The second cache level, shared between processes and with Python services: a user store (`cache` option)
 * or memcached (`memcached_servers`). Entries use keystonemiddleware's TokenCache format: key
 * `tokens/<sha256 hex of the token>`, value the JSON `[body, expires]` of a valid token; with
 * memcache_security_strategy MAC or ENCRYPT, keys and values are protected as _memcache_crypt does.
 * Only valid tokens are written, as keystonemiddleware 10.1 does: a negative entry stays in the memory cache of
 * the process that judged it. Python reads any entry as the token's data: an "invalid" marker there made it refuse
 * an expired user token beside a valid service token (allow_expired) for token_cache_time. A marker found here
 * (written by an older release) is a miss: the token is validated again.
 * Every token, PKI and PKIZ ones included, is addressed by the whole token, as keystonemiddleware 10.1 does.
 * PKI-era keystonemiddleware addressed PKI tokens by their MD5 hex, which is also what a UUID token of that
 * value addresses: that key is never read or written here.
 * A tampered or undecryptable entry is a miss (logged), never a trusted identity.
 * Failures and slow answers never fail a request: they are a miss, logged once per outage.
 */
export class SharedTokenCache {
  private failing = false;
  private lastOkAt = 0;
  private lastError: { message: string; at: number } | undefined;
  /** memcached (memcached_servers) or the `cache` option's store; the servers, for health(). */
  describe: { store: 'memcached' | 'custom'; servers: string[] } = { store: 'custom', servers: [] };

  constructor(
    private readonly store: TokenStore,
    private readonly logger: Logger,
    private readonly timeoutMs: number,
    private readonly security?: { strategy: SecurityStrategy; secret: string },
  ) {}

  static fromOptions(options: ResolvedOptions, logger: Logger): SharedTokenCache | undefined {
    const security = options.memcacheSecurityStrategy === 'None' ? undefined : { strategy: options.memcacheSecurityStrategy, secret: options.memcacheSecretKey! };
    if (options.cache) return new SharedTokenCache(options.cache, logger, options.memcacheTimeout, security);
    if (options.memcachedServers.length > 0) {
      const tls = options.memcacheTls && loadMemcachedTls(options.memcacheTls);
      const store = new MemcachedStore(options.memcachedServers, { timeoutMs: options.memcacheTimeout, logger, tls });
      const cache = new SharedTokenCache(store, logger, options.memcacheTimeout, security);
      cache.describe = { store: 'memcached', servers: [...options.memcachedServers] };
      return cache;
    }
    return undefined;
  }

  /** keystonemiddleware's TokenCache key of a token (without a security strategy). */
  static key(tokenId: string): string {
    return `tokens/${createHash('sha256').update(tokenId, 'utf8').digest('hex')}`;
  }

  private address(tokenId: string) {
    if (!this.security) return { key: SharedTokenCache.key(tokenId), keys: undefined };
    const keys = deriveKeys(tokenId, this.security.secret, this.security.strategy);
    // Python 3 keystonemiddleware formats the key as 'tokens/%s' % bytes, which yields "tokens/b'<base64>'";
    // the same literal key is used here so that Python and Node services find each other's entries.
    return { key: `tokens/b'${protectedCacheKey(keys)}'`, keys };
  }

  async get(tokenId: string, format: TokenFormat, hashes: readonly string[]): Promise<CacheEntry | undefined> {
    const { key, keys } = this.address(tokenId);
    const stored = await this.guard('get', () => this.store.get(key));
    if (stored === undefined || stored === null) return undefined;
    try {
      const raw = keys ? unprotect(keys, Buffer.from(stored, 'utf8')).toString('utf8') : stored;
      const value: unknown = JSON.parse(raw);
      if (value === INVALID_MARKER) return undefined;
      const body = Array.isArray(value) && value.length === 2 ? value[0] : value;
      return validEntry(readIdentity(body), format, hashes);
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'shared cache entry ignored: tampered, written with another secret, or unreadable');
      return undefined;
    }
  }

  /** Writes a valid token's entry; an invalid one is not written (see the class comment). */
  async set(tokenId: string, entry: CacheEntry, ttlSeconds: number): Promise<void> {
    if (ttlSeconds <= 0 || !entry.valid) return;
    const json = JSON.stringify([entry.identity.body, new Date(entry.expiresAtMs).toISOString()]);
    const { key, keys } = this.address(tokenId);
    const value = keys ? protect(keys, Buffer.from(json, 'utf8')).toString('ascii') : json;
    await this.guard('set', () => this.store.set(key, value, ttlSeconds));
  }

  private async guard<T>(operation: string, call: () => Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        call(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
      if (this.failing) this.logger.info({}, 'shared token cache reachable again');
      this.failing = false;
      this.lastOkAt = Date.now();
      return result;
    } catch (error) {
      if (!this.failing) this.logger.warn({ operation, error: (error as Error).message }, 'shared token cache unavailable; validating without it');
      this.failing = true;
      this.lastError = { message: `${operation}: ${(error as Error).message}`, at: Date.now() };
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** connected: the last operation succeeded; failing: it did not (requests go on without it); unknown: none yet. */
  get status(): { state: 'connected' | 'failing' | 'unknown'; lastOkAt: number; lastError: { message: string; at: number } | undefined } {
    return { state: this.failing ? 'failing' : this.lastOkAt > 0 ? 'connected' : 'unknown', lastOkAt: this.lastOkAt, lastError: this.lastError };
  }

  async close(): Promise<void> {
    await this.store.close?.();
  }
}
