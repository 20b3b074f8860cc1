import { CmsVerificationError, TokenFormatError, TokenRejectedError } from '../errors.js';
import { entryBytes, MemoryTokenCache, validEntry, type CacheEntry, type ValidEntry } from '../cache/token-cache.js';
import { SharedTokenCache } from '../cache/shared-cache.js';
import { channels, type CacheEvent } from '../diagnostics.js';
import type { Logger } from '../logger.js';
import type { ResolvedOptions } from '../options.js';
import { checkBind } from '../token/bind.js';
import { userHeaders } from '../token/headers.js';
import type { PkiValidator } from '../validators/pki.js';
import type { TokenValidator } from '../validators/validator.js';
import type { RevocationEventFeed } from '../revocation-events/event-feed.js';
import { describeEvent, revocationSubject } from '../revocation-events/event.js';
import { tokenLogId } from '../token/hash.js';
import { TokenIdCache, type TokenIds } from './token-ids.js';
import { validationDeadline } from '../identity/deadline.js';

/** What the pipeline counts (diagnostics, benchmarks, tests). The validators count their own work in it too. */
export interface PipelineCounters {
  cmsVerifications: number;
  onlineValidations: number;
  cacheHits: number;
}

/** How a token is checked: with an expired token's allowance (service token), and whether a service token came. */
export interface CheckHow {
  allowExpired?: boolean;
  serviceToken?: boolean;
}

/**
 * One token -> its cache entry or a typed error: the memory cache, the shared cache (memcached or a user store),
 * one validation in flight per token (`pending`), the validator of the token's era, and the re-checks of a
 * cached entry against the revocations known now. protocol.ts makes the request decision around it.
 */
export class TokenPipeline {
  readonly cache: MemoryTokenCache;
  readonly shared: SharedTokenCache | undefined;
  private readonly pending = new Map<string, Promise<CacheEntry>>();
  private readonly sharedWrites = new Set<Promise<void>>();
  private readonly ids: TokenIdCache;

  constructor(
    private readonly deps: {
      options: ResolvedOptions;
      logger: Logger;
      pki: PkiValidator;
      online: TokenValidator;
      /** Keystone's revocation events, applied to every valid entry before it is used. */
      events: RevocationEventFeed;
      counters: PipelineCounters;
    },
  ) {
    const { options } = deps;
    this.cache = new MemoryTokenCache({ maxEntries: options.cacheMaxEntries, maxBytes: options.cacheMaxBytes });
    this.shared = SharedTokenCache.fromOptions(options, deps.logger);
    this.ids = new TokenIdCache(options.hashAlgorithms);
  }

  /** The format, hashes and cache key of a token (the last token's are kept). */
  tokenIds(token: string): TokenIds {
    return this.ids.of(token);
  }

  /**
   * The valid memory-cache entry of a user token when it can be used with no further work (not expired, no
   * access rules, bind satisfied, nothing to re-check), else undefined: the synchronous path of decide().
   */
  cachedValid(token: string, remoteUser: string | undefined, now = Date.now()): ValidEntry | undefined {
    const { options } = this.deps;
    if (options.checkRevocationsForCached || token.length > options.maxTokenLength) return undefined;
    const ids = this.tokenIds(token);
    const entry = this.lookup(ids);
    if (!entry?.valid || entry.expiresAtMs <= now || entry.identity.accessRules) return undefined;
    if (entry.eventsChecked !== this.deps.events.generation && this.revokedByEvent(ids, entry)) return undefined; // check() refuses it
    try {
      checkBind(entry.identity, options.enforceTokenBind, remoteUser);
    } catch {
      return undefined; // check() says why
    }
    this.deps.counters.cacheHits++;
    if (channels.cache.hasSubscribers) channels.cache.publish({ hit: true, level: 'memory' } satisfies CacheEvent);
    return entry;
  }

  /**
   * One token: from the cache, else validated (once for concurrent requests). `allowExpired`: an expired token is
   * accepted (validated with allow_expired=1 when online), bypassing the cache's refusals, never caching.
   * The bind is checked when no service token came with the token, as keystonemiddleware does.
   */
  async check(token: string, remoteUser: string | undefined, now = Date.now(), how: CheckHow = {}): Promise<ValidEntry> {
    const { options, counters } = this.deps;
    if (token.length > options.maxTokenLength) {
      throw new TokenFormatError('ERR_TOKEN_TOO_LONG', `token is ${token.length} characters long, over the limit of ${options.maxTokenLength}`);
    }
    const ids = this.tokenIds(token);
    const { format, hashes, key } = ids;
    if (format === 'online' && token.length > options.maxOnlineTokenLength) {
      // Refused before the cache and the identity server: no Keystone issues such a token, and one under uwsgi drops the connection for it.
      throw new TokenFormatError('ERR_TOKEN_TOO_LONG', `online token is ${token.length} characters long, over the limit of ${options.maxOnlineTokenLength} (maxOnlineTokenLength)`);
    }
    const allowExpired = how.allowExpired ?? false;
    let entry = this.lookup(ids);
    if (channels.cache.hasSubscribers) channels.cache.publish({ hit: entry !== undefined, level: 'memory' });
    if (entry && !entry.valid && allowExpired && (entry.code === 'ERR_TOKEN_EXPIRED' || (format === 'online' && entry.code === 'ERR_TOKEN_INVALID'))) entry = undefined;
    if (entry) counters.cacheHits++;
    else {
      const pendingKey = allowExpired ? `expired:${key}` : key;
      let pending = this.pending.get(pendingKey);
      if (!pending) {
        pending = this.resolve(token, ids, now, allowExpired).finally(() => this.pending.delete(pendingKey));
        this.pending.set(pendingKey, pending);
      }
      entry = await pending;
    }
    if (entry.valid && entry.eventsChecked !== this.deps.events.generation) {
      const revoked = this.revokedByEvent(ids, entry);
      if (revoked) throw revoked;
    }
    if (!entry.valid) throw new TokenRejectedError(entry.code, entry.message);
    if (entry.expiresAtMs <= now && !allowExpired) {
      this.remember(key, { valid: false, code: 'ERR_TOKEN_EXPIRED', message: 'token expired' }, entryBytes(0, undefined));
      throw new TokenRejectedError('ERR_TOKEN_EXPIRED', `token expired at ${new Date(entry.expiresAtMs).toISOString()}`);
    }
    if (options.checkRevocationsForCached && format !== 'online') {
      const subject = { hashes, auditIds: entry.identity.auditIds, keystoneIds: entry.keystoneIds };
      try {
        await this.deps.pki.checkCachedRevoked(token, subject);
      } catch (error) {
        if (error instanceof TokenRejectedError) this.remember(key, { valid: false, code: error.code, message: error.message }, entryBytes(0, undefined));
        throw error;
      } finally {
        entry.keystoneIds = subject.keystoneIds;
      }
    }
    if (!how.serviceToken) checkBind(entry.identity, options.enforceTokenBind, remoteUser);
    return entry;
  }

  /**
   * Checks a valid entry against the revocation events that arrived since it was last checked (a few map
   * lookups: see RevocationEventIndex). Revoked: the entry is replaced by a refusal and the error returned.
   */
  private revokedByEvent(ids: TokenIds, entry: ValidEntry): TokenRejectedError | undefined {
    const { events } = this.deps;
    const generation = events.generation;
    if (events.index.size > 0) {
      const event = events.index.find((entry.revocationSubject ??= revocationSubject(entry.identity)));
      if (event) {
        const message = `token revoked (Keystone revocation event: ${describeEvent(event)})`;
        this.remember(ids.key, { valid: false, code: 'ERR_TOKEN_REVOKED', message }, entryBytes(0, undefined));
        if (channels.revokedByEvent.hasSubscribers) channels.revokedByEvent.publish({ token: tokenLogId(ids.token), event: describeEvent(event) });
        return new TokenRejectedError('ERR_TOKEN_REVOKED', message);
      }
    }
    entry.eventsChecked = generation;
    return undefined;
  }

  /** A valid online entry is in the cache: revocation events now matter (the feed starts once). */
  private noteOnlineEntry(entry: CacheEntry): void {
    if (!entry.valid || entry.format !== 'online') return;
    const { events } = this.deps;
    events.start();
    const issuedAt = entry.identity.issuedAt?.getTime();
    if (issuedAt !== undefined) events.noteTokenLifetime(Math.ceil((entry.expiresAtMs - issuedAt) / 1000));
  }

  /** The memory cache's entry for a token; an entry of another kind of token (see memoryKey) is never returned. */
  lookup(ids: TokenIds): CacheEntry | undefined {
    if (this.deps.options.tokenCacheTime < 0) return undefined;
    const entry = this.cache.get(ids.key);
    if (entry?.valid && (entry.format === 'online') !== (ids.format === 'online')) return undefined;
    return entry;
  }

  remember(key: string, entry: CacheEntry, size: number, ttlMs = this.deps.options.tokenCacheTime * 1000): void {
    const { tokenCacheTime } = this.deps.options;
    if (tokenCacheTime < 0) return;
    this.cache.set(key, entry, entry.valid ? ttlMs : tokenCacheTime * 1000, size);
  }

  /**
   * A cache miss: shared cache, else full validation. Identity server trouble propagates (nothing cached).
   * The shared cache is addressed by the whole token, never by a PKI token's hash (see SharedTokenCache).
   */
  private async resolve(token: string, ids: TokenIds, now: number, allowExpired = false): Promise<CacheEntry> {
    const { options, counters } = this.deps;
    const { format, hashes, key } = ids;
    const useShared = this.shared && options.tokenCacheTime >= 0 && !allowExpired;
    const fromShared = useShared ? await this.shared!.get(token, format, hashes) : undefined;
    if (useShared && channels.cache.hasSubscribers) channels.cache.publish({ hit: fromShared !== undefined, level: 'shared' });
    if (fromShared) {
      counters.cacheHits++;
      this.noteOnlineEntry(fromShared);
      this.remember(key, fromShared, this.sizeOf(fromShared, fromShared.valid ? JSON.stringify(fromShared.identity.body).length : 0), this.ttlFor(fromShared, now));
      return fromShared;
    }
    let entry: CacheEntry;
    let size = 0;
    try {
      const validator: TokenValidator = format === 'online' ? this.deps.online : this.deps.pki;
      // A PKI token is decided at once when nothing needs fetching (no deadline to arm: nothing to wait for).
      const atOnce = format === 'online' ? undefined : this.deps.pki.validateAtOnce(token, hashes);
      const { identity, bodyBytes, keystoneIds } =
        atOnce !== undefined && !(atOnce instanceof Promise)
          ? atOnce
          : await validationDeadline(options.validationDeadlineMs, (signal) => atOnce ?? validator.validate(token, hashes, { allowExpired, signal }));
      size = bodyBytes;
      if (identity.expiresAt.getTime() <= now && !allowExpired) throw new TokenRejectedError('ERR_TOKEN_EXPIRED', `token expired at ${identity.expiresAt.toISOString()}`);
      entry = validEntry(identity, format, hashes);
      entry.keystoneIds = keystoneIds;
    } catch (error) {
      // Failures a refetch of the certificates may cure come here only after that refetch (or as a 503, never cached).
      if (!(error instanceof TokenFormatError || error instanceof CmsVerificationError || error instanceof TokenRejectedError)) throw error;
      entry = { valid: false, code: error.code, message: error.message };
    }
    if (allowExpired) return entry; // validated under a service token's allowance: never cached
    this.noteOnlineEntry(entry);
    const ttl = this.ttlFor(entry, now);
    this.remember(key, entry, this.sizeOf(entry, size), ttl);
    if (useShared) {
      const write = this.shared!.set(token, entry, Math.ceil(ttl / 1000)).finally(() => this.sharedWrites.delete(write));
      this.sharedWrites.add(write);
    }
    return entry;
  }

  /**
   * The entry's approximate heap size for cacheMaxBytes. A valid entry gets its user headers now (they are
   * needed on this very request in nearly every case) so that their size is reckoned too.
   */
  private sizeOf(entry: CacheEntry, bodyBytes: number): number {
    if (!entry.valid) return entryBytes(0, undefined);
    entry.userHeaders ??= userHeaders(entry.identity, this.deps.options.includeServiceCatalog);
    return entryBytes(bodyBytes, entry.userHeaders);
  }

  private ttlFor(entry: CacheEntry, now: number): number {
    const ttl = this.deps.options.tokenCacheTime * 1000;
    return entry.valid ? Math.min(ttl, entry.expiresAtMs - now) : ttl;
  }

  /** Waits for the writes to the shared cache (never lost on shutdown) and closes it. */
  async close(): Promise<void> {
    await Promise.all(this.sharedWrites);
    await this.shared?.close();
  }
}
