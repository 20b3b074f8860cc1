import { IdentityServerError, KeystoneAuthError } from '../errors.js';
import { channels } from '../diagnostics.js';
import type { SigningMaterial, VerifiedToken } from '../cms/verify.js';
import type { AdminToken } from '../identity/admin-token.js';
import type { IdentityClient } from '../identity/client.js';
import { PATHS, type VersionDiscovery } from '../identity/versions.js';
import type { Logger } from '../logger.js';
import { curableByNewCertificates, type CertificateStore } from './certificates.js';
import { REVOKED_FILE, type SigningDir } from './signing-dir.js';
import { RevocationReader } from './revocation-worker.js';
import { unreachable } from './unreachable.js';
import { mergeRevocations } from './revocation-merge.js';
import type { RevocationEntries } from './revoked-set.js';

/** revoked.pem is decoded this many bytes at a time when read from signing_dir (see loadFromDisk). */
const FILE_PIECE_BYTES = 256 * 1024;

/** Where the list in use came from. */
export type RevocationSource = 'identity server' | 'signing_dir';

/**
 * The revocation list: fetched with the admin token, verified with the signing certificates, held as a
 * RevocationEntries of token hashes, written to revoked.pem. Refreshed when older than revocation_cache_time, one
 * refresh at a time; while a refresh runs or fails, the current list serves up to `maxStalenessMs` past its
 * refresh time; beyond that, and with no list at all, `ids()` throws IdentityServerError (503, with Retry-After
 * the time of the next try): never a silent pass.
 *
 * A failed refresh (any failure: transport, 5xx, refused credentials, bad signature, content that does not
 * parse, too large) backs off: the next download is at least `backoffMs(failures)` later (exponential from
 * revocation_cache_time, with jitter, capped), whatever the traffic; requests in between are answered from the
 * current list or refused at once, without a download.
 *
 * At start (first need) the list is fetched from the identity server; revoked.pem in signing_dir is read only
 * when that fetch fails because the server cannot be reached (transport, 5xx), and that is said in a warning
 * and in `source`.
 */
export class RevocationList {
  private revoked: RevocationEntries | undefined;
  private fetchedAt = 0;
  private inFlight: Promise<RevocationEntries> | undefined;
  /** A refresh() asked for while a download was under way: the next download. */
  private queued: Promise<RevocationEntries> | undefined;
  private started = false;
  /** The SHA-256 of the large list's DER that revoked.pem holds, when known: an unchanged list is not rewritten. */
  private storedDigest: string | undefined;
  /** Consecutive failed refreshes, and when the next may start (ms since the epoch; 0: any time). */
  private failures = 0;
  private retryAt = 0;
  private lastFailure: KeystoneAuthError | Error | undefined;
  /** How many entries the last list dropped before their expiry (kept), to warn only when that grows. */
  private keptBeyondGrace = 0;
  /** Where the current list came from. */
  source: RevocationSource | undefined;
  /** How many times the list was fetched (diagnostics and tests). */
  fetchCount = 0;

  constructor(
    private readonly deps: {
      dir: SigningDir;
      client: IdentityClient;
      versions: VersionDiscovery;
      adminToken: AdminToken;
      certificates: CertificateStore;
      logger: Logger;
      cacheTimeMs: number;
      maxStalenessMs: number;
      /** Largest list answer accepted (option revocationListMaxBytes). */
      maxBytes: number;
      /** The clock (tests); default Date.now. */
      now?: () => number;
      /** A number in [0, 1) for the back-off's jitter (tests); default Math.random. */
      random?: () => number;
    },
  ) {}

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /** When the current list was fetched (ms since the epoch; 0: none yet). */
  get fetchedAtMs(): number {
    return this.fetchedAt;
  }

  /** Number of revoked ids in the current list. */
  get size(): number {
    return this.revoked?.size ?? 0;
  }

  /** While refreshes fail: how many in a row, and when the next download may start (ms since the epoch). */
  get backoff(): { failures: number; retryAt: number } | undefined {
    return this.failures > 0 ? { failures: this.failures, retryAt: this.retryAt } : undefined;
  }

  /**
   * The wait after `failures` consecutive failed refreshes: revocation_cache_time doubled per failure, capped
   * at 16 times revocation_cache_time (at most 5 minutes, unless revocation_cache_time is longer), less up to
   * 20 % of jitter so that a fleet does not retry in step.
   */
  backoffMs(failures: number, random = Math.random()): number {
    const base = Math.max(1000, this.deps.cacheTimeMs);
    const cap = Math.max(base, Math.min(16 * base, 300_000));
    const delay = Math.min(cap, base * 2 ** Math.min(failures - 1, 30));
    return Math.round(delay * (1 - 0.2 * random));
  }

  /** The current list, refreshed as needed (see the class comment). */
  async ids(now = this.now()): Promise<RevocationEntries> {
    if (!this.started) {
      this.started = true;
      if (!this.revoked) {
        await this.first().catch(() => {});
        now = this.now();
      }
    }
    const list = this.idsNow(now);
    if (list) return list;
    if (now < this.retryAt && !this.inFlight) throw this.stale(this.lastFailure, now);
    try {
      return await this.download();
    } catch (error) {
      throw this.stale(error, this.now());
    }
  }

  /**
   * What ids() gives without waiting, else undefined: the list once the first fetch has been tried, while it is
   * fresh enough (younger than revocation_cache_time, or within revocationMaxStaleness beyond it, a refresh then
   * started in the background when one is due).
   */
  idsNow(now = this.now()): RevocationEntries | undefined {
    if (!this.started || !this.revoked) return undefined;
    const age = now - this.fetchedAt;
    if (age < this.deps.cacheTimeMs) return this.revoked;
    if (age < this.deps.cacheTimeMs + this.deps.maxStalenessMs) {
      if (now >= this.retryAt) void this.download().catch(() => {}); // serve the current list while the new one comes
      return this.revoked;
    }
    return undefined;
  }

  /** ERR_REVOCATION_LIST_STALE, with Retry-After the time until the next download may start. */
  private stale(cause: unknown, now: number): IdentityServerError {
    const known = cause instanceof KeystoneAuthError ? cause.message : String(cause);
    const retryAfterSeconds = Math.max(1, Math.ceil((this.retryAt - now) / 1000));
    return new IdentityServerError(
      'ERR_REVOCATION_LIST_STALE',
      `no revocation list fresher than ${Math.round((this.deps.cacheTimeMs + this.deps.maxStalenessMs) / 1000)} s is available (${known}); PKI tokens cannot be checked; next try in ${retryAfterSeconds} s`,
      { cause, retryAfterSeconds },
    );
  }

  /**
   * A list downloaded after this call, whatever the back-off: the caller asked for it (after a revocation, say).
   * A download already under way may have started before what the caller knows of: this one follows it, shared
   * by every caller meanwhile.
   */
  refresh(): Promise<RevocationEntries> {
    if (!this.inFlight) return this.download();
    this.queued ??= this.inFlight
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.download();
      });
    return this.queued;
  }

  /** A download, or the one under way (single-flight). */
  private download(): Promise<RevocationEntries> {
    this.inFlight ??= this.fetch().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /**
   * The first list: from the identity server; from revoked.pem only when the server cannot be reached (and then
   * only a file younger than revocation_cache_time + revocationMaxStaleness).
   */
  private async first(): Promise<void> {
    try {
      await this.download();
    } catch (error) {
      if (!unreachable(error)) throw error;
      await this.loadFromDisk(error as IdentityServerError);
      throw error;
    }
  }

  private async loadFromDisk(why: IdentityServerError): Promise<void> {
    const stored = await this.deps.dir.read(REVOKED_FILE);
    if (!stored) return;
    const age = this.now() - stored.mtimeMs;
    if (age >= this.deps.cacheTimeMs + this.deps.maxStalenessMs) {
      this.deps.logger.warn({ file: this.deps.dir.file(REVOKED_FILE), ageSeconds: Math.round(age / 1000), error: why.message }, 'the identity server cannot give the revocation list, and revoked.pem in signing_dir is too old to stand in for it');
      return;
    }
    const reader = new RevocationReader('pem', stored.bytes.length);
    try {
      // 256 KiB at a time, with a turn of the event loop between them: a revoked.pem of 1,000,000 entries is
      // 160 MB, and decoding it in one call held the main thread for most of a second.
      for (let at = 0; at < stored.bytes.length; at += FILE_PIECE_BYTES) {
        reader.write(stored.bytes.subarray(at, at + FILE_PIECE_BYTES));
        if (at + FILE_PIECE_BYTES < stored.bytes.length) await new Promise((resolve) => setImmediate(resolve));
      }
      const entries = await this.read(reader);
      if (this.revoked) return; // a fetch succeeded meanwhile
      this.revoked = entries;
      this.fetchedAt = stored.mtimeMs;
      this.source = 'signing_dir';
      this.deps.logger.warn(
        { file: this.deps.dir.file(REVOKED_FILE), entries: entries.size, ageSeconds: Math.round(age / 1000), error: why.message },
        'the identity server cannot give the revocation list; using revoked.pem from signing_dir until it can',
      );
    } catch (error) {
      this.deps.logger.warn({ error: (error as Error).message }, 'revoked.pem in signing_dir cannot be used either');
    } finally {
      reader.close();
    }
  }

  private async fetch(): Promise<RevocationEntries> {
    this.fetchCount++;
    const start = performance.now();
    let reader: RevocationReader | undefined;
    try {
      const version = await this.deps.versions.resolve();
      const path = PATHS[version].revoked;
      let response;
      for (let attempt = 0; attempt < 2; attempt++) {
        const admin = await this.deps.adminToken.get();
        response = await this.deps.client.request({
          path,
          headers: { 'x-auth-token': admin },
          label: `GET ${path}`,
          maxBytes: this.deps.maxBytes,
          // A 5xx or a transport failure (an answer cut short, a reset) is a failed refresh, which backs off: not
          // retried at once, whatever http_request_max_retries (a retry would download the whole list again).
          retryServerErrors: false,
          maxRetries: 0,
          // The list is read as it arrives (a large one on a worker thread), never held whole as text.
          sink: (status, headers) => {
            reader?.close();
            reader = status === 200 ? new RevocationReader('json', Number(headers['content-length']) || 0) : undefined;
            return reader;
          },
        });
        if (response.status === 401 && attempt === 0 && !this.deps.adminToken.isStatic) {
          this.deps.adminToken.invalidate();
          continue;
        }
        break;
      }
      if (response!.status !== 200 || !reader) {
        throw new IdentityServerError(response!.status === 401 || response!.status === 403 ? 'ERR_IDENTITY_AUTH' : 'ERR_IDENTITY_RESPONSE', `GET ${path} answered ${response!.status}`);
      }
      const current = this.revoked;
      let inUse = false;
      // The new list serves requests from here on (a large one before its revoked.pem is written).
      const use = (revoked: RevocationEntries): void => {
        inUse = true;
        this.revoked = revoked;
        this.fetchedAt = this.now();
        if (this.failures > 0 || this.source === 'signing_dir') this.deps.logger.info({ entries: revoked.size, failures: this.failures }, 'revocation list fetched from the identity server again');
        this.source = 'identity server';
        this.failures = 0;
        this.retryAt = 0;
        this.lastFailure = undefined;
        if (channels.revocationRefresh.hasSubscribers) channels.revocationRefresh.publish({ ok: true, entries: revoked.size, durationMs: performance.now() - start });
      };
      const revoked = await this.read(reader, async (fresh) => (current ? this.retain(current, fresh) : { entries: fresh, older: false }), use);
      if (!inUse) use(revoked);
      return revoked;
    } catch (error) {
      reader?.close();
      reader = undefined;
      this.failures++;
      const waitMs = this.backoffMs(this.failures, this.deps.random?.());
      this.retryAt = this.now() + waitMs;
      // The error only: never the answer, a reader or a buffer, which would stay reachable until the next try.
      this.lastFailure = error instanceof KeystoneAuthError ? error : new Error(String((error as Error)?.message ?? error));
      if (channels.revocationRefresh.hasSubscribers) channels.revocationRefresh.publish({ ok: false, error: (error as KeystoneAuthError).code ?? String(error), durationMs: performance.now() - start });
      const log = { error: (error as Error).message, code: (error as KeystoneAuthError).code, failures: this.failures, nextTryInSeconds: Math.round(waitMs / 1000) };
      // Warned at the first failure and at each doubling; the others at debug, so that a long outage is not a flood.
      if ((this.failures & (this.failures - 1)) === 0) this.deps.logger.warn(log, 'cannot refresh the revocation list; backing off');
      else this.deps.logger.debug(log, 'cannot refresh the revocation list; backing off');
      throw error;
    } finally {
      reader?.close();
    }
  }

  /**
   * `fresh`, keeping each entry of `current` it drops before the entry's `expires` (Keystone lists a revoked
   * token until it expires: a list without it is an older one, replayed or cached), with a warning. `older` when
   * it drops entries that expire later than a minute from now (closer ones may be clock skew): such a list is not
   * written to revoked.pem, which keeps the list it holds.
   */
  private async retain(current: RevocationEntries, fresh: RevocationEntries): Promise<{ entries: RevocationEntries; older: boolean }> {
    const { entries, kept, keptBeyondGrace } = await mergeRevocations(current, fresh, Math.floor(this.now() / 1000));
    // Warned when more are dropped than the last list dropped: the same older list served again is not news.
    const news = keptBeyondGrace > this.keptBeyondGrace;
    this.keptBeyondGrace = keptBeyondGrace;
    if (news) {
      this.deps.logger.warn(
        { dropped: kept, entries: fresh.size, file: this.deps.dir.file(REVOKED_FILE) },
        `the revocation list fetched drops ${kept} entries that have not expired (an older list: replayed on a plain-HTTP identity_uri, or served by a cache); they are kept until they expire, and revoked.pem keeps the list it holds`,
      );
    } else if (kept > 0) this.deps.logger.debug({ dropped: kept }, 'the revocation list fetched drops entries within a minute of their expiry; kept until they expire');
    return { entries, older: keptBeyondGrace > 0 };
  }

  /**
   * The list a reader was given, verified, then read into entries. With `settle` (a fetched list), revoked.pem is
   * written once `settle` has judged the entries: not when it finds an older list, nor when the entries cannot be
   * read. A small list is read on this thread, its file written meanwhile and replaced after the judgement; a large
   * one on the reader's worker thread (the DER moved there once verified), which writes the file after it: `use`
   * is then given the entries before the file is written.
   */
  private async read(reader: RevocationReader, settle?: (fresh: RevocationEntries) => Promise<{ entries: RevocationEntries; older: boolean }>, use?: (entries: RevocationEntries) => void): Promise<RevocationEntries> {
    const signed = await reader.signed();
    const material = await this.deps.certificates.current();
    let verified: VerifiedToken;
    try {
      verified = await this.verify(signed, material);
    } catch (error) {
      if (!curableByNewCertificates(error)) throw error;
      verified = await this.verify(signed, await this.deps.certificates.refresh('revocation list signed by another certificate', material));
    }
    if (typeof signed === 'string') {
      if (!settle) return reader.entries(verified.content);
      let decide!: (store: boolean) => void;
      const writing = this.store(signed, new Promise<boolean>((resolve) => (decide = resolve)));
      try {
        const { entries, older } = await settle(await reader.entries(verified.content));
        decide(!older);
        return entries;
      } catch (error) {
        decide(false);
        throw error;
      } finally {
        await writing;
      }
    }
    const fresh = await reader.entries(verified.content, verified.der);
    if (!settle) {
      this.storedDigest = await reader.digest();
      return fresh;
    }
    const { entries, older } = await settle(fresh);
    use?.(entries); // in use while its 160 MB of PEM (at 1,000,000 entries) are written and synced
    if (!older) await this.storeLarge(reader);
    return entries;
  }

  /** Writes a small list's PEM to revoked.pem, replacing the file only when `keep` resolves true. */
  private store(pem: string, keep: Promise<boolean>): Promise<void> {
    return this.persist(undefined, () => this.deps.dir.write(REVOKED_FILE, pem, keep));
  }

  /**
   * Writes a large list's PEM to revoked.pem from the reader's worker thread. A list equal to the one revoked.pem
   * holds (Keystone's RSA signatures are deterministic: an unchanged list comes back byte for byte) only has the
   * file's time renewed: a list of 1,000,000 entries is 160 MB of PEM, and revocation_cache_time is 10 s by
   * default.
   */
  private async storeLarge(reader: RevocationReader): Promise<void> {
    const digest = await reader.digest();
    if (digest !== undefined && digest === this.storedDigest && (await this.deps.dir.touch(REVOKED_FILE))) return;
    await this.persist(digest, () =>
      this.deps.dir.writeWith(REVOKED_FILE, async (handle) => {
        await reader.writePem(handle.fd);
        return true;
      }),
    );
  }

  /** Runs a write of revoked.pem: its digest remembered when the file was replaced; a failure logged, not thrown. */
  private async persist(digest: string | undefined, write: () => Promise<boolean>): Promise<void> {
    try {
      if (await write()) this.storedDigest = digest;
    } catch (error) {
      this.storedDigest = undefined;
      this.deps.logger.error({ error: (error as Error).message }, 'cannot write revoked.pem; the list stays in memory');
    }
  }

  /** Verifies the signed list (PEM text or DER). */
  private verify(signed: string | Uint8Array, material: SigningMaterial): Promise<VerifiedToken> {
    return material.verifyAsync(signed, { maxTokenLength: Number.MAX_SAFE_INTEGER, maxInflatedBytes: 256 * 1024 * 1024 });
  }
}
