import { CertificateError, CmsVerificationError, IdentityServerError, KeystoneAuthError, TokenFormatError, TokenRejectedError } from './errors.js';
import { entryBytes, MemoryTokenCache, validEntry, type CacheEntry, type ValidEntry } from './cache/token-cache.js';
import { SharedTokenCache } from './cache/shared-cache.js';
import { AdminToken } from './identity/admin-token.js';
import { IdentityClient } from './identity/client.js';
import { identityFailureSummary, validationDeadline } from './identity/deadline.js';
import { PATHS, VersionDiscovery } from './identity/versions.js';
import { channels, type ValidationEvent } from './diagnostics.js';
import { stderrLogger, type Logger } from './logger.js';
import { resolveOptions, type AuthTokenOptions, type ResolvedOptions } from './options.js';
import { CertificateStore } from './signing/certificates.js';
import { RevocationList } from './signing/revocations.js';
import { SigningDir } from './signing/signing-dir.js';
import type { Identity } from './token/access-info.js';
import { checkAccessRules } from './token/access-rules.js';
import { checkBind } from './token/bind.js';
import { classifyToken, type TokenFormat } from './token/format.js';
import { OnlineValidator } from './validators/online.js';
import { PkiValidator } from './validators/pki.js';
import type { TokenValidator } from './validators/validator.js';
import { hashToken, tokenLogId } from './token/hash.js';
import { serviceHeaders, userHeaders } from './token/headers.js';

/** The decision on one request. */
export type Decision =
  | { status: 'confirmed'; identity: Identity; service: Identity | undefined; headers: Record<string, string> }
  | { status: 'invalid' | 'unavailable'; error: KeystoneAuthError; headers: Record<string, string>; identity?: Identity; service?: Identity };

/** Counters for diagnostics, benchmarks and tests. */
export interface ProtocolStats {
  cmsVerifications: number;
  onlineValidations: number;
  cacheHits: number;
  certificateFetches: { signing: number; ca: number };
  revocationFetches: number;
}

/** What a decision may depend on besides the headers. */
export interface RequestContext {
  /** The Kerberos principal the request authenticated as (REMOTE_USER), for tokens bound to Kerberos. */
  remoteUser?: string;
  /** The request's method and path: application credential access rules are checked against them. */
  method?: string;
  path?: string;
}

/** A snapshot for /healthz: plain values, no secrets. */
export interface Health {
  /** up: the last request to the identity server succeeded; down: it failed; unknown: none yet. */
  identityServer: { state: 'up' | 'down' | 'unknown'; breaker: 'closed' | 'open' | 'half-open'; lastCheckedAt: string | undefined; lastError: string | undefined };
  /** The signing certificate in use (PKI), if loaded. */
  signingCertificate: { subject: string; serial: string; notAfter: string; expiresInDays: number } | undefined;
  /** The revocation list (PKI), if fetched. */
  revocationList: { entries: number; ageSeconds: number } | undefined;
  cache: { entries: number; approximateBytes: number };
}

/** Request headers as node:http gives them (lower-case names). */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/**
 * The framework-free core: validate(headers) → Confirmed | Invalid | Unavailable. Owns the signing
 * certificates, the revocation list, the token cache and the identity server client.
 */
export class AuthProtocol {
  readonly options: ResolvedOptions;
  readonly logger: Logger;
  readonly signingDir: SigningDir;
  readonly client: IdentityClient;
  readonly versions: VersionDiscovery;
  readonly adminToken: AdminToken;
  readonly certificates: CertificateStore;
  readonly revocations: RevocationList;
  readonly cache: MemoryTokenCache;
  readonly shared: SharedTokenCache | undefined;
  private readonly pki: PkiValidator;
  private readonly online: OnlineValidator;
  private readonly pending = new Map<string, Promise<CacheEntry>>();
  private readonly sharedWrites = new Set<Promise<void>>();
  private readonly counters = { cmsVerifications: 0, onlineValidations: 0, cacheHits: 0 };
  private lastToken: TokenIds | undefined;

  constructor(input: AuthTokenOptions) {
    this.options = resolveOptions(input);
    this.logger = input.logger ?? stderrLogger;
    for (const warning of this.options.warnings) this.logger.warn({ option: warning.option }, warning.message);
    this.signingDir = SigningDir.open(this.options.signingDir, this.logger, { allowInsecure: this.options.allowInsecureSigningDir });
    this.client = new IdentityClient(this.options);
    this.client.onBreakerChange = (state) => {
      if (channels.breaker.hasSubscribers) channels.breaker.publish({ state });
      if (state === 'open') this.logger.error({ breaker: state }, `identity server failing: circuit open, uncached requests get 503 for ${this.options.circuitBreakerHalfOpenAfter} s, then one probe`);
      else this.logger.info({ breaker: state }, state === 'closed' ? 'identity server answering again: circuit closed' : 'probing the identity server (circuit half-open)');
    };
    this.versions = new VersionDiscovery(this.client, this.options.authVersion);
    this.adminToken = new AdminToken(this.client, this.versions, this.options);
    this.certificates = new CertificateStore(this.signingDir, this.client, this.versions, this.logger, this.options.certificateRefetchCooldown * 1000);
    this.revocations = new RevocationList({
      dir: this.signingDir,
      client: this.client,
      versions: this.versions,
      adminToken: this.adminToken,
      certificates: this.certificates,
      logger: this.logger,
      cacheTimeMs: this.options.revocationCacheTime * 1000,
      maxStalenessMs: this.options.revocationMaxStaleness * 1000,
      maxBytes: this.options.revocationListMaxBytes,
    });
    this.cache = new MemoryTokenCache({ maxEntries: this.options.cacheMaxEntries, maxBytes: this.options.cacheMaxBytes });
    this.shared = SharedTokenCache.fromOptions(this.options, this.logger);
    this.pki = new PkiValidator({ certificates: this.certificates, revocations: this.revocations, options: this.options, counters: this.counters });
    this.online = new OnlineValidator({ client: this.client, versions: this.versions, adminToken: this.adminToken, includeCatalog: this.options.includeServiceCatalog, counters: this.counters });
  }

  /**
   * Resolves when the middleware can decide: the service credentials authenticate, the identity server answers,
   * and, where it issues PKI tokens, the signing certificates and the revocation list are at hand. Rejects with
   * the typed error (ConfigError, IdentityServerError, CertificateError) otherwise. Does not change decisions.
   */
  async ready(): Promise<void> {
    const version = await this.versions.resolve();
    if (this.adminToken.configured) await this.adminToken.get();
    const probe = await this.client.request({ path: PATHS[version].signingCert, label: `GET ${PATHS[version].signingCert} (readiness)` });
    if (probe.status === 404 || probe.status === 410) return; // Fernet/JWS only: nothing more to have at hand
    await this.certificates.current();
    if (this.adminToken.configured) await this.revocations.ids();
  }

  /** A snapshot of the middleware's state, for a health endpoint. */
  health(now = Date.now()): Health {
    const outcome = this.client.lastOutcome;
    const signer = this.certificates.loaded?.signer;
    const fetched = this.revocations.fetchedAtMs;
    return {
      identityServer: {
        state: outcome === undefined ? 'unknown' : outcome.ok ? 'up' : 'down',
        breaker: this.client.breakerState,
        lastCheckedAt: outcome && new Date(outcome.at).toISOString(),
        lastError: outcome?.error,
      },
      signingCertificate: signer && {
        subject: signer.subject,
        serial: signer.serial,
        notAfter: signer.notAfter.toISOString(),
        expiresInDays: Math.floor((signer.notAfter.getTime() - now) / 86_400_000),
      },
      revocationList: fetched > 0 ? { entries: this.revocations.size, ageSeconds: Math.round((now - fetched) / 1000) } : undefined,
      cache: { entries: this.cache.size, approximateBytes: this.cache.calculatedSize },
    };
  }

  get stats(): ProtocolStats {
    return {
      ...this.counters,
      certificateFetches: { ...this.certificates.fetchCounts },
      revocationFetches: this.revocations.fetchCount,
    };
  }

  /**
   * As validate(), but synchronous when the answer is already in the memory cache (a valid user token, no
   * service token, nothing to re-check): most requests then cost one hash and one lookup, no promise.
   */
  decide(headers: RequestHeaders, context: RequestContext = {}): Decision | Promise<Decision> {
    if (!channels.validation.hasSubscribers) return this.decideFromCache(headers, context) ?? this.validate(headers, context);
    const start = performance.now();
    const fast = this.decideFromCache(headers, context);
    if (fast) {
      publishDecision(fast, true, start);
      return fast;
    }
    return this.validate(headers, context).then((decision) => {
      publishDecision(decision, false, start);
      return decision;
    });
  }

  private decideFromCache(headers: RequestHeaders, context: RequestContext): Decision | undefined {
    if (headers['x-service-token'] !== undefined || this.options.checkRevocationsForCached) return undefined;
    const token = single(headers['x-auth-token']) ?? single(headers['x-storage-token']);
    if (!token || token.length > this.options.maxTokenLength) return undefined;
    const entry = this.lookup(this.tokenIds(token));
    if (!entry?.valid || entry.expiresAtMs <= Date.now() || entry.identity.accessRules) return undefined;
    try {
      checkBind(entry.identity, this.options.enforceTokenBind, context.remoteUser);
    } catch {
      return undefined; // validate() says why
    }
    this.counters.cacheHits++;
    const headersOut = (entry.userHeaders ??= userHeaders(entry.identity, this.options.includeServiceCatalog));
    return { status: 'confirmed', identity: entry.identity, service: undefined, headers: headersOut };
  }

  /**
   * The format, hashes and cache key of a token. The last token's are kept: decide() and then validate() on a
   * cache miss ask for the same token's twice, and a hash of a 5 KB token is most of a cache hit's cost.
   */
  private tokenIds(token: string): TokenIds {
    if (token === this.lastToken?.token) return this.lastToken;
    const format = classifyToken(token);
    const hashes = format === 'online' ? [token] : this.options.hashAlgorithms.map((algorithm) => hashToken(token, algorithm));
    this.lastToken = { token, format, hashes, key: memoryKey(format, hashes[0]!) };
    return this.lastToken;
  }

  /**
   * Decides on a request from its headers (X-Auth-Token or X-Storage-Token, and X-Service-Token). Both tokens
   * are judged independently, as keystonemiddleware does: the request is confirmed only when the user token is
   * valid and the service token, if any, too; the headers describe both outcomes either way (for
   * delay_auth_decision). A failure of the identity server outranks an invalid token (503 before 401).
   */
  async validate(headers: RequestHeaders, context: RequestContext = {}): Promise<Decision> {
    const userToken = single(headers['x-auth-token']) ?? single(headers['x-storage-token']);
    const serviceToken = single(headers['x-service-token']);
    const result: Record<string, string> = {};
    const failures: { status: 'invalid' | 'unavailable'; error: KeystoneAuthError }[] = [];
    let service: Identity | undefined;
    let identity: Identity | undefined;
    // As keystonemiddleware: an expired user token is accepted only beside a valid service token holding one of
    // service_token_roles (and is then validated with allow_expired=1).
    let allowExpired = false;
    if (serviceToken !== undefined) {
      try {
        const entry = await this.check(serviceToken, context);
        allowExpired = this.checkServiceRoles(entry.identity);
        service = entry.identity;
        Object.assign(result, (entry.serviceHeaders ??= serviceHeaders(service)));
      } catch (error) {
        failures.push(this.failure(error, 'service token', serviceToken));
        result['x-service-identity-status'] = 'Invalid';
      }
    }
    if (userToken === undefined || userToken === '') {
      failures.push({ status: 'invalid', error: new TokenRejectedError('ERR_TOKEN_MISSING', 'no X-Auth-Token header') });
      result['x-identity-status'] = 'Invalid';
    } else {
      try {
        const entry = await this.check(userToken, context, Date.now(), { allowExpired, serviceToken: serviceToken !== undefined });
        checkAccessRules(entry.identity, { method: context.method, path: context.path, serviceType: this.options.serviceType, hasServiceToken: serviceToken !== undefined });
        identity = entry.identity;
        const user = (entry.userHeaders ??= userHeaders(identity, this.options.includeServiceCatalog));
        if (failures.length === 0 && !service) return { status: 'confirmed', identity, service, headers: user };
        Object.assign(result, user);
      } catch (error) {
        failures.push(this.failure(error, 'token', userToken));
        result['x-identity-status'] = 'Invalid';
      }
    }
    if (failures.length === 0) return { status: 'confirmed', identity: identity!, service, headers: result };
    const failure = failures.find((f) => f.status === 'unavailable') ?? failures[0]!;
    return { status: failure.status, error: failure.error, headers: result, identity, service };
  }

  private failure(error: unknown, what: string, token: string): { status: 'invalid' | 'unavailable'; error: KeystoneAuthError } {
    if (error instanceof IdentityServerError) {
      this.logger.error({ token: tokenLogId(token), code: error.code, error: error.message }, `cannot validate ${what}: ${identityFailureSummary(error)}`);
      return { status: 'unavailable', error };
    }
    if (error instanceof KeystoneAuthError) {
      const log = error instanceof CertificateError ? this.logger.error : this.logger.info;
      log.call(this.logger, { token: tokenLogId(token), code: error.code, error: error.message }, `${what} refused`);
      return { status: 'invalid', error };
    }
    // Anything unforeseen fails closed, as unavailable (503), and is logged in full.
    this.logger.error({ token: tokenLogId(token), error: String((error as Error)?.stack ?? error) }, `unexpected failure validating ${what}`);
    return { status: 'unavailable', error: new IdentityServerError('ERR_IDENTITY_RESPONSE', 'unexpected failure while validating the token', { cause: error }) };
  }

  /**
   * The service token's role check, as keystonemiddleware's: true when it holds one of service_token_roles
   * (which also allows an expired user token). Without one: refused when service_token_roles_required (the
   * default here), else a warning and the token passes.
   */
  private checkServiceRoles(service: Identity): boolean {
    const wanted = this.options.serviceTokenRoles;
    if (service.roles.some((role) => wanted.includes(role))) return true;
    const message = `service token has none of the roles ${wanted.join(', ') || '(none configured)'} (service_token_roles)`;
    if (this.options.serviceTokenRolesRequired) throw new TokenRejectedError('ERR_SERVICE_TOKEN_ROLES', message);
    this.logger.warn({ user: service.user.id, option: 'service_token_roles_required' }, `${message}; accepted because service_token_roles_required is false`);
    return false;
  }

  /** Validates one token: its identity, or a typed error (invalid: 401; identity server trouble: 503). */
  async validateToken(token: string, context: RequestContext = {}, now = Date.now()): Promise<Identity> {
    return (await this.check(token, context, now)).identity;
  }

  /**
   * One token: from the cache, else validated (once for concurrent requests). `allowExpired`: an expired token is
   * accepted (validated with allow_expired=1 when online), bypassing the cache's refusals, never caching.
   * The bind is checked when no service token came with the token, as keystonemiddleware does.
   */
  private async check(token: string, context: RequestContext, now = Date.now(), how: { allowExpired?: boolean; serviceToken?: boolean } = {}): Promise<ValidEntry> {
    if (token.length > this.options.maxTokenLength) {
      throw new TokenFormatError('ERR_TOKEN_TOO_LONG', `token is ${token.length} characters long, over the limit of ${this.options.maxTokenLength}`);
    }
    const ids = this.tokenIds(token);
    const { format, hashes, key } = ids;
    if (format === 'online' && token.length > this.options.maxOnlineTokenLength) {
      // Refused before the cache and the identity server: no Keystone issues such a token, and one under uwsgi drops the connection for it.
      throw new TokenFormatError('ERR_TOKEN_TOO_LONG', `online token is ${token.length} characters long, over the limit of ${this.options.maxOnlineTokenLength} (maxOnlineTokenLength)`);
    }
    const allowExpired = how.allowExpired ?? false;
    let entry = this.lookup(ids);
    if (channels.cache.hasSubscribers) channels.cache.publish({ hit: entry !== undefined, level: 'memory' });
    if (entry && !entry.valid && allowExpired && (entry.code === 'ERR_TOKEN_EXPIRED' || (format === 'online' && entry.code === 'ERR_TOKEN_INVALID'))) entry = undefined;
    if (entry) this.counters.cacheHits++;
    else {
      const pendingKey = allowExpired ? `expired:${key}` : key;
      let pending = this.pending.get(pendingKey);
      if (!pending) {
        pending = this.resolve(token, ids, now, allowExpired).finally(() => this.pending.delete(pendingKey));
        this.pending.set(pendingKey, pending);
      }
      entry = await pending;
    }
    if (!entry.valid) throw new TokenRejectedError(entry.code, entry.message);
    if (entry.expiresAtMs <= now && !allowExpired) {
      this.remember(key, { valid: false, code: 'ERR_TOKEN_EXPIRED', message: 'token expired' }, entryBytes(0, undefined));
      throw new TokenRejectedError('ERR_TOKEN_EXPIRED', `token expired at ${new Date(entry.expiresAtMs).toISOString()}`);
    }
    if (this.options.checkRevocationsForCached && format !== 'online') {
      const subject = { hashes, auditIds: entry.identity.auditIds, keystoneIds: entry.keystoneIds };
      try {
        await this.pki.checkCachedRevoked(token, subject);
      } catch (error) {
        if (error instanceof TokenRejectedError) this.remember(key, { valid: false, code: error.code, message: error.message }, entryBytes(0, undefined));
        throw error;
      } finally {
        entry.keystoneIds = subject.keystoneIds;
      }
    }
    if (!how.serviceToken) checkBind(entry.identity, this.options.enforceTokenBind, context.remoteUser);
    return entry;
  }

  /** The memory cache's entry for a token; an entry of another kind of token (see memoryKey) is never returned. */
  private lookup(ids: TokenIds): CacheEntry | undefined {
    if (this.options.tokenCacheTime < 0) return undefined;
    const entry = this.cache.get(ids.key);
    if (entry?.valid && (entry.format === 'online') !== (ids.format === 'online')) return undefined;
    return entry;
  }

  private remember(key: string, entry: CacheEntry, size: number, ttlMs = this.options.tokenCacheTime * 1000): void {
    if (this.options.tokenCacheTime < 0) return;
    this.cache.set(key, entry, entry.valid ? ttlMs : this.options.tokenCacheTime * 1000, size);
  }

  /**
   * A cache miss: shared cache, else full validation. Identity server trouble propagates (nothing cached).
   * The shared cache is addressed by the whole token, never by a PKI token's hash (see SharedTokenCache).
   */
  private async resolve(token: string, ids: TokenIds, now: number, allowExpired = false): Promise<CacheEntry> {
    const { format, hashes, key } = ids;
    const useShared = this.shared && this.options.tokenCacheTime >= 0 && !allowExpired;
    const fromShared = useShared ? await this.shared!.get(token, format, hashes) : undefined;
    if (useShared && channels.cache.hasSubscribers) channels.cache.publish({ hit: fromShared !== undefined, level: 'shared' });
    if (fromShared) {
      this.counters.cacheHits++;
      this.remember(key, fromShared, this.sizeOf(fromShared, fromShared.valid ? JSON.stringify(fromShared.identity.body).length : 0), this.ttlFor(fromShared, now));
      return fromShared;
    }
    let entry: CacheEntry;
    let size = 0;
    try {
      const validator: TokenValidator = format === 'online' ? this.online : this.pki;
      const { identity, bodyBytes, keystoneIds } = await validationDeadline(this.options.validationDeadlineMs, (signal) => validator.validate(token, hashes, { allowExpired, signal }));
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
    entry.userHeaders ??= userHeaders(entry.identity, this.options.includeServiceCatalog);
    return entryBytes(bodyBytes, entry.userHeaders);
  }

  private ttlFor(entry: CacheEntry, now: number): number {
    const ttl = this.options.tokenCacheTime * 1000;
    return entry.valid ? Math.min(ttl, entry.expiresAtMs - now) : ttl;
  }

  /** Stops timers and closes sockets. */
  async close(): Promise<void> {
    await Promise.all(this.sharedWrites); // writes to the shared cache are never lost on shutdown
    await Promise.all([this.client.close(), this.shared?.close()]);
    await this.signingDir.dispose();
  }
}

/** A token's format, its hash_algorithms hashes (the token itself when online) and its memory cache key. */
interface TokenIds {
  token: string;
  format: TokenFormat;
  hashes: readonly string[];
  key: string;
}

/**
 * The memory cache key: PKI/PKIZ entries by hash, online entries by token, in two namespaces. A UUID token is 32
 * hex digits, as an MD5 hash is: in one namespace, md5(victim's PKI token) sent as an online token would read the
 * victim's identity, or plant an "invalid" entry in front of the victim's token.
 */
function memoryKey(format: TokenFormat, id: string): string {
  return format === 'online' ? `online:${id}` : `pki:${id}`;
}

function publishDecision(decision: Decision, cached: boolean, start: number): void {
  const event: ValidationEvent = { outcome: decision.status, cached, durationMs: performance.now() - start };
  if (decision.status !== 'confirmed') event.code = decision.error.code;
  channels.validation.publish(event);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
