import { IdentityServerError, KeystoneAuthError } from '../errors.js';
import { channels } from '../diagnostics.js';
import type { SigningMaterial, VerifiedToken } from '../cms/verify.js';
import type { AdminToken } from '../identity/admin-token.js';
import type { IdentityClient } from '../identity/client.js';
import { PATHS, type VersionDiscovery } from '../identity/versions.js';
import type { Logger } from '../logger.js';
import { curableByNewCertificates, type CertificateStore } from './certificates.js';
import { pemSlices, REVOKED_FILE, type SigningDir } from './signing-dir.js';
import { RevocationReader } from './revocation-worker.js';
import type { RevocationEntries } from './revoked-set.js';

/**
 * The revocation list: fetched with the admin token, verified with the signing certificates, held as a
 * RevocationEntries of token hashes, written to revoked.pem. Refreshed when older than revocation_cache_time, one
 * refresh at a time; while a refresh runs or fails, the current list serves up to `maxStalenessMs` past its
 * refresh time; beyond that, and with no list at all, `ids()` throws IdentityServerError (503): never a
 * silent pass.
 */
export class RevocationList {
  private revoked: RevocationEntries | undefined;
  private fetchedAt = 0;
  private inFlight: Promise<RevocationEntries> | undefined;
  private loadedFromDisk = false;
  /** The SHA-256 of the large list's DER that revoked.pem holds, when known: an unchanged list is not rewritten. */
  private storedDigest: string | undefined;
  private failing = false;
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
    },
  ) {}

  /** When the current list was fetched (ms since the epoch; 0: none yet). */
  get fetchedAtMs(): number {
    return this.fetchedAt;
  }

  /** Number of revoked ids in the current list. */
  get size(): number {
    return this.revoked?.size ?? 0;
  }

  /** The current list, refreshed as needed (see the class comment). */
  async ids(now = Date.now()): Promise<RevocationEntries> {
    if (!this.revoked && !this.loadedFromDisk) await this.loadFromDisk(now);
    const age = now - this.fetchedAt;
    if (this.revoked && age < this.deps.cacheTimeMs) return this.revoked;
    if (this.revoked && age < this.deps.cacheTimeMs + this.deps.maxStalenessMs) {
      void this.refresh().catch(() => {}); // serve the current list while the new one comes
      return this.revoked;
    }
    try {
      return await this.refresh();
    } catch (error) {
      const known = error instanceof KeystoneAuthError ? error.message : String(error);
      throw new IdentityServerError(
        'ERR_REVOCATION_LIST_STALE',
        `no revocation list fresher than ${Math.round((this.deps.cacheTimeMs + this.deps.maxStalenessMs) / 1000)} s is available (${known}); PKI tokens cannot be checked`,
        { cause: error },
      );
    }
  }

  refresh(): Promise<RevocationEntries> {
    this.inFlight ??= this.fetch().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async loadFromDisk(now: number): Promise<void> {
    this.loadedFromDisk = true;
    const stored = await this.deps.dir.read(REVOKED_FILE);
    if (!stored || now - stored.mtimeMs >= this.deps.cacheTimeMs) return;
    const reader = new RevocationReader('pem', stored.bytes.length);
    try {
      reader.write(stored.bytes);
      this.revoked = await this.read(reader, false);
      this.storedDigest = await reader.digest();
      this.fetchedAt = stored.mtimeMs;
    } catch (error) {
      this.deps.logger.warn({ error: (error as Error).message }, 'revoked.pem in signing_dir cannot be used; fetching the list');
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
      const revoked = await this.read(reader, true);
      this.revoked = revoked;
      this.fetchedAt = Date.now();
      if (this.failing) this.deps.logger.info({ entries: revoked.size }, 'revocation list fetched again');
      this.failing = false;
      if (channels.revocationRefresh.hasSubscribers) channels.revocationRefresh.publish({ ok: true, entries: revoked.size, durationMs: performance.now() - start });
      return revoked;
    } catch (error) {
      if (channels.revocationRefresh.hasSubscribers) channels.revocationRefresh.publish({ ok: false, error: (error as KeystoneAuthError).code ?? String(error), durationMs: performance.now() - start });
      if (!this.failing) this.deps.logger.warn({ error: (error as Error).message, code: (error as KeystoneAuthError).code }, 'cannot refresh the revocation list');
      this.failing = true;
      throw error;
    } finally {
      reader?.close();
    }
  }

  /**
   * The list a reader was given, verified, then read into entries while (when `write`) revoked.pem is written:
   * the worker reads the ids as the main thread writes the file.
   */
  private async read(reader: RevocationReader, write: boolean): Promise<RevocationEntries> {
    const signed = await reader.signed();
    const material = await this.deps.certificates.current();
    let verified: VerifiedToken;
    try {
      verified = await this.verify(signed, material);
    } catch (error) {
      if (!curableByNewCertificates(error)) throw error;
      verified = await this.verify(signed, await this.deps.certificates.refresh('revocation list signed by another certificate', material));
    }
    const writing = write ? this.store(signed, verified.der, reader) : undefined;
    const [revoked] = await Promise.all([reader.entries(verified.content), writing]);
    return revoked;
  }

  /**
   * Writes revoked.pem: a large list's PEM a slice at a time from the DER, never held whole. A large list equal
   * to the one revoked.pem holds (Keystone's RSA signatures are deterministic: an unchanged list comes back
   * byte for byte) only has the file's time renewed: a list of 1,000,000 entries is 160 MB of PEM, and
   * revocation_cache_time is 10 s by default.
   */
  private async store(signed: string | Uint8Array, der: Uint8Array, reader: RevocationReader): Promise<void> {
    const digest = typeof signed === 'string' ? undefined : await reader.digest();
    if (digest !== undefined && digest === this.storedDigest && (await this.deps.dir.touch(REVOKED_FILE))) return;
    try {
      await this.deps.dir.write(REVOKED_FILE, typeof signed === 'string' ? signed : pemSlices(der));
      this.storedDigest = digest;
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
