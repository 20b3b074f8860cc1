import { KeystoneAuthError } from '../errors.js';
import { channels } from '../diagnostics.js';
import type { AdminToken } from '../identity/admin-token.js';
import { parseJsonResponse, type IdentityClient } from '../identity/client.js';
import type { VersionDiscovery } from '../identity/versions.js';
import type { Logger } from '../logger.js';
import { readEvent, type RevocationEvent } from './event.js';
import { RevocationEventIndex } from './event-index.js';

export const EVENTS_PATH = '/v3/OS-REVOKE/events';
/** Seconds of overlap between polls: `since` is strict at whole seconds, and an event may commit a little late. */
const OVERLAP_S = 2;
/** Keystone's defaults: [token] expiration and [revoke] expiration_buffer (events are pruned past their sum). */
const DEFAULT_TOKEN_LIFETIME_S = 3600;
const EXPIRATION_BUFFER_S = 1800;
/** How long to wait before asking again an identity server that has no events API (403/404/410). */
const UNAVAILABLE_RETRY_MS = 600_000;

/** The feed's state, for health() and diagnostics. */
export interface RevocationEventsHealth {
  /** off: disabled or no service credentials; waiting: no poll yet; available; unavailable: 403/404/410. */
  state: 'off' | 'waiting' | 'available' | 'unavailable';
  /** Events held. */
  events: number;
  /** When the last poll that succeeded ended (ISO 8601), and how long ago. */
  lastPollAt: string | undefined;
  ageSeconds: number | undefined;
  /** True when no poll succeeded for over two intervals while polling: revocation of cached tokens lags. */
  stale: boolean;
  /** The last failure, while polls fail. */
  lastError: string | undefined;
}

/**
 * Keystone's revocation events, polled off the request path: GET /v3/OS-REVOKE/events?since=… every
 * `intervalMs` (revocation_cache_time), one poll at a time, with the service user's token; a failed poll is
 * retried with exponential back-off and jitter (capped); an identity server without the API (403/404/410) is
 * said so once and asked again rarely. `since` overlaps the last poll by a few seconds (Keystone filters
 * `revoked_at > since` at whole seconds); the repeated events are held once. Events are forgotten on Keystone's
 * own rule. Polling starts with start() (the first online token cached) and stops with close().
 */
export class RevocationEventFeed {
  readonly index = new RevocationEventIndex();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private started = false;
  private closed = false;
  private failures = 0;
  private lastSuccessMs = 0;
  private lastError: string | undefined;
  private unavailable = false;
  private warnedUnavailable = false;
  private longestLifetimeS = DEFAULT_TOKEN_LIFETIME_S;
  /** Polls made (diagnostics, tests). */
  pollCount = 0;

  constructor(
    private readonly deps: {
      client: IdentityClient;
      versions: VersionDiscovery;
      adminToken: AdminToken;
      logger: Logger;
      intervalMs: number;
      enabled: boolean;
    },
  ) {}

  get enabled(): boolean {
    return this.deps.enabled;
  }

  /** Moves when events arrive (see RevocationEventIndex). */
  get generation(): number {
    return this.index.generation;
  }

  /** Starts polling (once; later calls do nothing). */
  start(): void {
    if (this.started || !this.deps.enabled || this.closed) return;
    this.started = true;
    void this.poll();
  }

  /** A token of this lifetime was seen: events are kept at least that long past their time (Keystone's rule). */
  noteTokenLifetime(seconds: number): void {
    if (seconds > this.longestLifetimeS) this.longestLifetimeS = seconds;
  }

  /** One poll now (single-flight); resolves when it ended, never rejects. */
  poll(): Promise<void> {
    this.inFlight ??= this.pollOnce().finally(() => {
      this.inFlight = undefined;
      this.schedule();
    });
    return this.inFlight;
  }

  private schedule(): void {
    if (this.closed || !this.started) return;
    clearTimeout(this.timer);
    let delay = this.deps.intervalMs;
    if (this.unavailable) delay = Math.max(delay, UNAVAILABLE_RETRY_MS);
    else if (this.failures > 0) {
      const cap = Math.max(this.deps.intervalMs, Math.min(300_000, this.deps.intervalMs * 32));
      delay = Math.min(cap, this.deps.intervalMs * 2 ** this.failures) * (0.75 + Math.random() * 0.5);
    }
    this.timer = setTimeout(() => void this.poll(), delay);
    this.timer.unref();
  }

  private async pollOnce(): Promise<void> {
    this.pollCount++;
    const start = performance.now();
    try {
      const version = await this.deps.versions.resolve();
      if (version !== 'v3') return this.markUnavailable(`the identity API in use is ${version}; OS-REVOKE is a v3 API`);
      const latest = this.index.latestRevokedAtS;
      const path = latest === undefined ? EVENTS_PATH : `${EVENTS_PATH}?since=${encodeURIComponent(new Date((latest - OVERLAP_S) * 1000).toISOString())}`;
      let response;
      for (let attempt = 0; attempt < 2; attempt++) {
        const admin = await this.deps.adminToken.get();
        response = await this.deps.client.request({ path, headers: { 'x-auth-token': admin }, label: `GET ${EVENTS_PATH}` });
        if (response.status === 401 && attempt === 0 && !this.deps.adminToken.isStatic) {
          this.deps.adminToken.invalidate();
          continue;
        }
        break;
      }
      const status = response!.status;
      if (status === 403 || status === 404 || status === 410) return this.markUnavailable(`GET ${EVENTS_PATH} answered ${status}`);
      if (status !== 200) throw new Error(`GET ${EVENTS_PATH} answered ${status}`);
      const body = parseJsonResponse(response!, `GET ${EVENTS_PATH}`) as { events?: unknown };
      if (!Array.isArray(body.events)) throw new Error(`GET ${EVENTS_PATH}: the answer has no "events" list`);
      const events: RevocationEvent[] = [];
      let unreadable = 0;
      for (const raw of body.events) {
        const event = readEvent(raw);
        if (event) events.push(event);
        else unreadable++;
      }
      if (unreadable > 0) this.deps.logger.warn({ unreadable }, `${unreadable} revocation events without revoked_at or issued_before ignored`);
      const added = this.index.add(events);
      const nowS = Math.floor(Date.now() / 1000);
      this.index.prune(nowS - this.longestLifetimeS - EXPIRATION_BUFFER_S);
      if (this.failures > 0 || this.unavailable) this.deps.logger.info({ events: this.index.size }, 'revocation events fetched again');
      this.failures = 0;
      this.unavailable = false;
      this.lastError = undefined;
      this.lastSuccessMs = Date.now();
      if (channels.revocationEvents.hasSubscribers) channels.revocationEvents.publish({ ok: true, added, events: this.index.size, durationMs: performance.now() - start });
    } catch (error) {
      if (this.closed) return; // shutting down: the client was closed under the poll
      const message = error instanceof KeystoneAuthError || error instanceof Error ? error.message : String(error);
      if (this.failures === 0) this.deps.logger.warn({ error: message }, 'cannot fetch revocation events; cached tokens are served as before (bounded by token_cache_time) until they come');
      this.failures++;
      this.lastError = message;
      if (channels.revocationEvents.hasSubscribers) channels.revocationEvents.publish({ ok: false, error: message, events: this.index.size, durationMs: performance.now() - start });
    }
  }

  private markUnavailable(reason: string): void {
    this.unavailable = true;
    this.lastError = reason;
    if (!this.warnedUnavailable) {
      this.warnedUnavailable = true;
      this.deps.logger.warn({ reason }, 'revocation events are not available from this identity server (the service user needs role admin or service for identity:list_revoke_events); cached online tokens stay valid until token_cache_time as without them');
    }
    if (channels.revocationEvents.hasSubscribers) channels.revocationEvents.publish({ ok: false, error: reason, events: this.index.size, durationMs: 0 });
  }

  health(now = Date.now()): RevocationEventsHealth {
    const polled = this.lastSuccessMs > 0;
    const state = !this.deps.enabled ? 'off' : this.unavailable ? 'unavailable' : polled ? 'available' : 'waiting';
    return {
      state,
      events: this.index.size,
      lastPollAt: polled ? new Date(this.lastSuccessMs).toISOString() : undefined,
      ageSeconds: polled ? Math.round((now - this.lastSuccessMs) / 1000) : undefined,
      stale: this.started && !this.unavailable && (polled ? now - this.lastSuccessMs > 2 * this.deps.intervalMs + 1000 : this.failures > 0),
      lastError: this.lastError,
    };
  }

  /** Stops polling; a poll in flight ends on its own. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}
