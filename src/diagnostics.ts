import { channel } from 'node:diagnostics_channel';

/**
 * node:diagnostics_channel events, for metrics and tracing (prom-client, OpenTelemetry; see examples/metrics.ts).
 * Nothing is built unless a channel has subscribers. Messages carry token hashes at most, never a token.
 */
export const channels = {
  /** One decision on a request: `{ outcome, code?, cached, durationMs }`. */
  validation: channel('keystone-authtoken:validation'),
  /** A token cache lookup: `{ hit, level: 'memory' | 'shared' }`. */
  cache: channel('keystone-authtoken:cache'),
  /** A request to the identity server: `{ label, status?, error?, durationMs }` (labels never hold a token). */
  identityRequest: channel('keystone-authtoken:identity-request'),
  /** A refetch of the signing certificates: `{ reason }`. */
  certificateRefetch: channel('keystone-authtoken:certificate-refetch'),
  /** A revocation list refresh: `{ ok, entries?, error?, durationMs }`. */
  revocationRefresh: channel('keystone-authtoken:revocation-refresh'),
  /** A poll of Keystone's revocation events: `{ ok, added?, events, error?, durationMs }`. */
  revocationEvents: channel('keystone-authtoken:revocation-events'),
  /** A cached token refused because a revocation event revokes it: `{ token (its log id), event (the fields it set) }`. */
  revokedByEvent: channel('keystone-authtoken:revoked-by-event'),
  /** The identity server circuit breaker changed state: `{ state: 'open' | 'half-open' | 'closed' }`. */
  breaker: channel('keystone-authtoken:breaker'),
} as const;

export interface ValidationEvent {
  outcome: 'confirmed' | 'invalid' | 'unavailable';
  code?: string;
  cached: boolean;
  durationMs: number;
}
