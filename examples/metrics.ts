// Metrics from keystone-authtoken's node:diagnostics_channel events: Prometheus (prom-client) and OpenTelemetry.
// Subscribe once at start-up, before the middleware serves; nothing is published without subscribers.
// Copy this file into your service as it is: it imports only from the installed package (and prom-client,
// @opentelemetry/api). In this repository, 'keystone-authtoken' resolves to src/ through tsconfig.json's paths.
import { subscribe } from 'node:diagnostics_channel';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { metrics, type Meter } from '@opentelemetry/api';
import type { BreakerEvent, CacheEvent, IdentityRequestEvent, RevocationRefreshEvent, ValidationEvent } from 'keystone-authtoken';

/** Prometheus: decisions by outcome, decision latency, identity server requests, breaker state, cache hits. */
export function keystonePrometheus(registry = new Registry()): Registry {
  const decisions = new Counter({ name: 'keystone_authtoken_decisions_total', help: 'Requests decided, by outcome and whether the memory cache decided them', labelNames: ['outcome', 'code', 'cached'], registers: [registry] });
  const latency = new Histogram({ name: 'keystone_authtoken_decision_seconds', help: 'Time to decide a request', labelNames: ['cached'], buckets: [0.0001, 0.001, 0.01, 0.1, 1, 5], registers: [registry] });
  const identity = new Histogram({ name: 'keystone_authtoken_identity_request_seconds', help: 'Requests to the identity server', labelNames: ['outcome'], buckets: [0.005, 0.05, 0.5, 2, 10], registers: [registry] });
  const cache = new Counter({ name: 'keystone_authtoken_cache_lookups_total', help: 'Token cache lookups', labelNames: ['level', 'hit'], registers: [registry] });
  const breaker = new Gauge({ name: 'keystone_authtoken_identity_breaker_open', help: '1 while the identity server circuit is open', registers: [registry] });
  const revocation = new Gauge({ name: 'keystone_authtoken_revocation_list_entries', help: 'Entries of the last revocation list', registers: [registry] });
  subscribe('keystone-authtoken:validation', (message) => {
    const event = message as ValidationEvent;
    decisions.inc({ outcome: event.outcome, code: event.code ?? '', cached: String(event.cached) });
    latency.observe({ cached: String(event.cached) }, event.durationMs / 1000);
  });
  subscribe('keystone-authtoken:identity-request', (message) => {
    const event = message as IdentityRequestEvent;
    identity.observe({ outcome: event.error ?? String(event.status) }, event.durationMs / 1000);
  });
  subscribe('keystone-authtoken:cache', (message) => {
    const event = message as CacheEvent;
    cache.inc({ level: event.level, hit: String(event.hit) });
  });
  subscribe('keystone-authtoken:breaker', (message) => breaker.set((message as BreakerEvent).state === 'open' ? 1 : 0));
  subscribe('keystone-authtoken:revocation-refresh', (message) => {
    const event = message as RevocationRefreshEvent;
    if (event.ok) revocation.set(event.entries ?? 0);
  });
  return registry;
}

/** OpenTelemetry metrics: the same events on a Meter (the global one unless given). */
export function keystoneOpenTelemetry(meter: Meter = metrics.getMeter('keystone-authtoken')): void {
  const decisions = meter.createCounter('keystone_authtoken.decisions', { description: 'Requests decided' });
  const duration = meter.createHistogram('keystone_authtoken.decision.duration', { unit: 'ms', description: 'Time to decide a request' });
  subscribe('keystone-authtoken:validation', (message) => {
    const event = message as ValidationEvent;
    const attributes = { outcome: event.outcome, cached: event.cached, ...(event.code ? { code: event.code } : {}) };
    decisions.add(1, attributes);
    duration.record(event.durationMs, attributes);
  });
}
