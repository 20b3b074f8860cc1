import { CertificateError, IdentityServerError, KeystoneAuthError, TokenRejectedError } from './errors.js';
import type { MemoryTokenCache } from './cache/token-cache.js';
import type { SharedTokenCache } from './cache/shared-cache.js';
import { AdminToken } from './identity/admin-token.js';
import { IdentityClient } from './identity/client.js';
import { identityFailureSummary } from './identity/deadline.js';
import { PATHS, VersionDiscovery } from './identity/versions.js';
import { checkValidatePermission, missingRoleError } from './identity/validate-permission.js';
import { channels, type ValidationEvent } from './diagnostics.js';
import { stderrLogger, type Logger } from './logger.js';
import { resolveOptions, type AuthTokenOptions, type ResolvedOptions } from './options.js';
import { CertificateStore } from './signing/certificates.js';
import { RevocationList } from './signing/revocations.js';
import { SigningDir } from './signing/signing-dir.js';
import type { Identity } from './token/access-info.js';
import { checkAccessRules } from './token/access-rules.js';
import { OnlineValidator } from './validators/online.js';
import { MonitoredValidator, type ValidationHealth } from './health.js';
import { PkiValidator } from './validators/pki.js';
import { tokenLogId } from './token/hash.js';
import { TokenPipeline } from './pipeline/token-pipeline.js';
import { RevocationEventFeed, type RevocationEventsHealth } from './revocation-events/event-feed.js';
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
  /**
   * up: the last request to the identity server succeeded; down: it failed (unreachable, timeout, 5xx);
   * refusing: it answers, but refuses the service user (credentials, or the role validation needs) or its
   * validation endpoint is not Keystone's, so every uncached online token fails; unknown: no request yet.
   */
  identityServer: {
    state: 'up' | 'down' | 'refusing' | 'unknown';
    breaker: 'closed' | 'open' | 'half-open';
    lastCheckedAt: string | undefined;
    lastError: string | undefined;
    /** The service user's last authentication: authenticated, refused (401/403, with why), or not yet/not configured. */
    serviceUser: { state: 'authenticated' | 'refused' | 'unknown' | 'not-configured'; lastCheckedAt: string | undefined; lastError: string | undefined };
    /** Online validation (GET /v3/auth/tokens): see ValidationHealth. */
    validation: ValidationHealth;
  };
  /**
   * The signing certificate in use (PKI), if loaded; `source` 'signing_dir' while the identity server cannot be
   * reached and the copy in signing_dir stands in.
   */
  signingCertificate: { subject: string; serial: string; notAfter: string; expiresInDays: number; source: 'identity server' | 'signing_dir' } | undefined;
  /**
   * The revocation list (PKI), if fetched; `source` 'signing_dir' while revoked.pem stands in for an unreachable
   * identity server. `failures` and `nextTryInSeconds` while refreshes fail (they back off).
   */
  revocationList: { entries: number; ageSeconds: number; source: 'identity server' | 'signing_dir'; failures: number; nextTryInSeconds: number | undefined } | undefined;
  cache: { entries: number; approximateBytes: number };
  /** Keystone's revocation events (online tokens): last poll, its age, how many held, available or not, stale or not. */
  revocationEvents: RevocationEventsHealth;
  /**
   * The shared cache (memcached_servers, or the `cache` option): not-configured; connected (last operation
   * succeeded); failing (requests go on without it, validating more often); unknown (no operation yet).
   */
  sharedCache:
    | { state: 'not-configured' }
    | { state: 'connected' | 'failing' | 'unknown'; store: 'memcached' | 'custom'; servers: string[]; lastError: string | undefined; lastErrorAt: string | undefined };
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
  private readonly online: MonitoredValidator;
  /** One token -> its cache entry or a typed error (cache levels, single-flight, validators, revocation checks). */
  readonly pipeline: TokenPipeline;
  /** Keystone's revocation events, polled every revocation_cache_time once an online token is cached. */
  readonly revocationEvents: RevocationEventFeed;
  private readonly counters = { cmsVerifications: 0, onlineValidations: 0, cacheHits: 0 };

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
    this.pki = new PkiValidator({ certificates: this.certificates, revocations: this.revocations, options: this.options, counters: this.counters });
    this.online = new MonitoredValidator(
      new OnlineValidator({ client: this.client, versions: this.versions, adminToken: this.adminToken, includeCatalog: this.options.includeServiceCatalog, counters: this.counters }),
      { client: this.client, versions: this.versions, adminToken: this.adminToken, logger: this.logger },
    );
    this.revocationEvents = new RevocationEventFeed({
      client: this.client,
      versions: this.versions,
      adminToken: this.adminToken,
      logger: this.logger,
      intervalMs: this.options.revocationCacheTime * 1000,
      enabled: this.options.revocationEvents && this.adminToken.configured,
    });
    this.pipeline = new TokenPipeline({ options: this.options, logger: this.logger, pki: this.pki, online: this.online, events: this.revocationEvents, counters: this.counters });
    this.cache = this.pipeline.cache;
    this.shared = this.pipeline.shared;
  }

  /**
   * Resolves when the middleware can decide: the service credentials authenticate, the identity server answers,
   * and, where it issues PKI tokens, the signing certificates and the revocation list are at hand. Rejects with
   * the typed error (ConfigError, IdentityServerError, CertificateError) otherwise: ConfigError(ERR_CONFIG) naming
   * the role when the service user cannot validate tokens (no service or admin role). Does not change decisions.
   */
  async ready(): Promise<void> {
    const version = await this.versions.resolve();
    if (this.adminToken.configured) {
      const admin = await this.adminToken.get();
      // Every online token is validated with this user's token: one that lacks the role would get 503 on each.
      if (version === 'v3' && !this.adminToken.isStatic) {
        const permission = await checkValidatePermission(this.client, admin);
        if (!permission.allowed) throw missingRoleError(permission, this.adminToken.describe);
      }
    }
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
    const auth = this.adminToken.lastOutcome;
    const validation = this.online.health;
    // Refusing while the refusal is the latest news (an outage after it reads as down).
    const latest = outcome ? outcome.at - 1000 : 0;
    const refusing = (auth?.ok === false && auth.at >= latest) || (validation.state === 'failing' && Date.parse(validation.lastCheckedAt!) >= latest);
    const shared = this.shared?.status;
    const backoff = this.revocations.backoff;
    return {
      identityServer: {
        state: outcome === undefined ? 'unknown' : refusing ? 'refusing' : !outcome.ok ? 'down' : 'up',
        breaker: this.client.breakerState,
        lastCheckedAt: outcome && new Date(outcome.at).toISOString(),
        lastError: outcome?.error ?? (auth?.ok === false ? auth.error : validation.lastError),
        serviceUser: {
          state: !this.adminToken.configured ? 'not-configured' : auth === undefined ? 'unknown' : auth.ok ? 'authenticated' : 'refused',
          lastCheckedAt: auth && new Date(auth.at).toISOString(),
          lastError: auth?.error,
        },
        validation,
      },
      signingCertificate: signer && {
        subject: signer.subject,
        serial: signer.serial,
        notAfter: signer.notAfter.toISOString(),
        expiresInDays: Math.floor((signer.notAfter.getTime() - now) / 86_400_000),
        source: this.certificates.source ?? 'identity server',
      },
      revocationList:
        fetched > 0
          ? {
              entries: this.revocations.size,
              ageSeconds: Math.round((now - fetched) / 1000),
              source: this.revocations.source ?? 'identity server',
              failures: backoff?.failures ?? 0,
              nextTryInSeconds: backoff && Math.max(0, Math.ceil((backoff.retryAt - now) / 1000)),
            }
          : undefined,
      cache: { entries: this.cache.size, approximateBytes: this.cache.calculatedSize },
      revocationEvents: this.revocationEvents.health(now),
      sharedCache: !this.shared || !shared
        ? { state: 'not-configured' }
        : { state: shared.state, ...this.shared.describe, lastError: shared.lastError?.message, lastErrorAt: shared.lastError && new Date(shared.lastError.at).toISOString() },
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
    if (single(headers['x-service-token'])) return undefined; // '' is no service token
    const token = single(headers['x-auth-token']) ?? single(headers['x-storage-token']);
    if (!token) return undefined;
    const entry = this.pipeline.cachedValid(token, context.remoteUser);
    if (!entry) return undefined;
    const headersOut = (entry.userHeaders ??= userHeaders(entry.identity, this.options.includeServiceCatalog));
    return { status: 'confirmed', identity: entry.identity, service: undefined, headers: headersOut };
  }

  /**
   * Decides on a request from its headers (X-Auth-Token or X-Storage-Token, and X-Service-Token). Both tokens
   * are judged independently, as keystonemiddleware does: the request is confirmed only when the user token is
   * valid and the service token, if any, too; the headers describe both outcomes either way (for
   * delay_auth_decision). A failure of the identity server outranks an invalid token (503 before 401).
   */
  async validate(headers: RequestHeaders, context: RequestContext = {}): Promise<Decision> {
    const userToken = single(headers['x-auth-token']) ?? single(headers['x-storage-token']);
    const serviceToken = single(headers['x-service-token']) || undefined; // an empty header is no header
    const result: Record<string, string> = {};
    const failures: { status: 'invalid' | 'unavailable'; error: KeystoneAuthError }[] = [];
    let service: Identity | undefined;
    let identity: Identity | undefined;
    // As keystonemiddleware: an expired user token is accepted only beside a valid service token holding one of
    // service_token_roles (and is then validated with allow_expired=1).
    let allowExpired = false;
    if (serviceToken !== undefined) {
      try {
        const entry = await this.pipeline.check(serviceToken, context.remoteUser);
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
        const entry = await this.pipeline.check(userToken, context.remoteUser, Date.now(), { allowExpired, serviceToken: serviceToken !== undefined });
        // Access rules give way only to a service token that validated and holds one of service_token_roles.
        checkAccessRules(entry.identity, { method: context.method, path: context.path, serviceType: this.options.serviceType, hasServiceToken: allowExpired });
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
    if (error instanceof IdentityServerError && error.code === 'ERR_CERTIFICATE_REFETCH_PENDING') {
      // A rotation, or a forged token: worth one warning per refetch cooldown, not an operator page per request.
      const log = this.certificates.firstUndecidableInCooldown() ? this.logger.warn : this.logger.info;
      log.call(this.logger, { token: tokenLogId(token), code: error.code, error: error.message }, `cannot decide ${what} before the signing certificates may be refetched again`);
      return { status: 'unavailable', error };
    }
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
    return (await this.pipeline.check(token, context.remoteUser, now)).identity;
  }

  /** Stops timers and closes sockets. */
  async close(): Promise<void> {
    this.revocationEvents.close();
    await Promise.all([this.client.close(), this.pipeline.close()]); // writes to the shared cache are never lost on shutdown
    await this.signingDir.dispose();
  }
}

function publishDecision(decision: Decision, cached: boolean, start: number): void {
  const event: ValidationEvent = { outcome: decision.status, cached, durationMs: performance.now() - start };
  if (decision.status !== 'confirmed') event.code = decision.error.code;
  channels.validation.publish(event);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
