import { channel } from 'node:diagnostics_channel';

/**
 * node:diagnostics_channel events, for metrics and tracing (prom-client, OpenTelemetry; see examples/metrics.ts).
 * Nothing is built unless a channel has subscribers. Messages carry token hashes at most, never a token.
 * Each channel's message type is exported beside it (ValidationEvent, CacheEvent, ...).
 */
export const channels = {
  /** One decision on a request: {@link ValidationEvent}. */
  validation: channel('keystone-authtoken:validation'),
  /** A token cache lookup, memory hits of the synchronous path included: {@link CacheEvent}. */
  cache: channel('keystone-authtoken:cache'),
  /** A request to the identity server: {@link IdentityRequestEvent} (labels never hold a token). */
  identityRequest: channel('keystone-authtoken:identity-request'),
  /** A refetch of the signing certificates: {@link CertificateRefetchEvent}. */
  certificateRefetch: channel('keystone-authtoken:certificate-refetch'),
  /** A revocation list refresh: {@link RevocationRefreshEvent}. */
  revocationRefresh: channel('keystone-authtoken:revocation-refresh'),
  /** A poll of Keystone's revocation events: {@link RevocationEventsEvent}. */
  revocationEvents: channel('keystone-authtoken:revocation-events'),
  /** A cached token refused because a revocation event revokes it: {@link RevokedByEventEvent}. */
  revokedByEvent: channel('keystone-authtoken:revoked-by-event'),
  /** The identity server circuit breaker changed state: {@link BreakerEvent}. */
  breaker: channel('keystone-authtoken:breaker'),
} as const;

/** `keystone-authtoken:validation`: one decision on a request. */
export interface ValidationEvent {
  outcome: 'confirmed' | 'invalid' | 'unavailable';
  /** The error code of a refusal (ERR_TOKEN_EXPIRED, ...); absent when confirmed. */
  code?: string;
  /** True when the memory cache decided synchronously. */
  cached: boolean;
  durationMs: number;
}

/** `keystone-authtoken:cache`: one token cache lookup. Hit ratio = hits / lookups of a level. */
export interface CacheEvent {
  hit: boolean;
  /** memory: the in-process LRU; shared: memcached or the `cache` option's store (asked after a memory miss). */
  level: 'memory' | 'shared';
}

/** `keystone-authtoken:identity-request`: one request to the identity server (retries included). */
export interface IdentityRequestEvent {
  /** Method and path, never a token. */
  label: string;
  /** The HTTP status, when an answer came. */
  status?: number;
  /** The error code (ERR_IDENTITY_UNAVAILABLE, ...) when none did. */
  error?: string;
  durationMs: number;
}

/** `keystone-authtoken:certificate-refetch`: the signing certificates were fetched again. */
export interface CertificateRefetchEvent {
  /** Why: an unknown signer, a signature only another key could have made, an expired certificate, ... */
  reason: string;
}

/** `keystone-authtoken:revocation-refresh`: one refresh of the PKI revocation list. */
export interface RevocationRefreshEvent {
  ok: boolean;
  /** Entries of the new list, when ok. */
  entries?: number;
  /** The error code, when not. */
  error?: string;
  durationMs: number;
}

/** `keystone-authtoken:revocation-events`: one poll of Keystone's revocation events (GET /v3/OS-REVOKE/events). */
export interface RevocationEventsEvent {
  ok: boolean;
  /** Events new in this poll, when ok. */
  added?: number;
  /** Events held after it. */
  events: number;
  /** Why it failed, when not ok. */
  error?: string;
  durationMs: number;
}

/** `keystone-authtoken:revoked-by-event`: a cached token refused because a revocation event revokes it. */
export interface RevokedByEventEvent {
  /** The token's log id (a hash prefix), never the token. */
  token: string;
  /** The fields the event set. */
  event: string;
}

/** `keystone-authtoken:breaker`: the identity server circuit breaker changed state. */
export interface BreakerEvent {
  state: 'open' | 'half-open' | 'closed';
}
