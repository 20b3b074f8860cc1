import { createHash } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { ResolvedOptions } from '../options.js';
import { readIdentity } from '../token/access-info.js';
import type { TokenFormat } from '../token/format.js';
import type { CacheEntry } from './token-cache.js';
import type { TokenStore } from './token-store.js';

/** keystonemiddleware's marker for a token known to be invalid. */
export const INVALID_MARKER = 'invalid';

/**
 * The second cache level, shared between processes and with Python services: a user store (`cache` option)
 * or memcached (`memcached_servers`). Entries use keystonemiddleware's TokenCache format: key
 * `tokens/<sha256 hex of the token id>`, value the JSON `[body, expires]` for a valid token or `"invalid"`.
 * Failures and slow answers never fail a request: they are a miss, logged once per outage.
 */
export class SharedTokenCache {
  private failing = false;

  constructor(
    private readonly store: TokenStore,
    private readonly logger: Logger,
    private readonly timeoutMs: number,
  ) {}

  static fromOptions(options: ResolvedOptions, logger: Logger): SharedTokenCache | undefined {
    if (options.cache) return new SharedTokenCache(options.cache, logger, options.memcacheTimeout);
    return undefined;
  }

  static key(tokenId: string): string {
    return `tokens/${createHash('sha256').update(tokenId, 'utf8').digest('hex')}`;
  }

  async get(tokenId: string, format: TokenFormat, hashes: readonly string[]): Promise<CacheEntry | undefined> {
    const raw = await this.guard('get', () => this.store.get(SharedTokenCache.key(tokenId)));
    if (raw === undefined || raw === null) return undefined;
    try {
      const value: unknown = JSON.parse(raw);
      if (value === INVALID_MARKER) return { valid: false, code: 'ERR_TOKEN_INVALID', message: 'token is invalid (shared cache)' };
      const body = Array.isArray(value) && value.length === 2 ? value[0] : value;
      return { valid: true, identity: readIdentity(body), format, hashes };
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'unreadable shared cache entry ignored');
      return undefined;
    }
  }

  async set(tokenId: string, entry: CacheEntry, ttlSeconds: number): Promise<void> {
    if (ttlSeconds <= 0) return;
    const value = entry.valid ? JSON.stringify([entry.identity.body, entry.identity.expiresAt.toISOString()]) : JSON.stringify(INVALID_MARKER);
    await this.guard('set', () => this.store.set(SharedTokenCache.key(tokenId), value, ttlSeconds));
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
      return result;
    } catch (error) {
      if (!this.failing) this.logger.warn({ operation, error: (error as Error).message }, 'shared token cache unavailable; validating without it');
      this.failing = true;
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.store.close?.();
  }
}
