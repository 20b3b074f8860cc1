import type { AuthProtocol, Health } from '../protocol.js';

/**
 * What an adapter hands the application besides the middleware: readiness, health and the core. Fastify:
 * `fastify.keystone`; Koa and Hono: the returned middleware itself (`auth.ready()`, `auth.health()`).
 */
export interface KeystoneControls {
  /** Resolves when requests can be decided (credentials, identity server, certificates); rejects with the typed error. */
  ready(): Promise<void>;
  /** A snapshot for a health endpoint (see Health). */
  health(): Health;
  /** The framework-free core, for direct use and diagnostics. */
  readonly protocol: AuthProtocol;
}

export function controlsOf(protocol: AuthProtocol): KeystoneControls {
  return { ready: () => protocol.ready(), health: () => protocol.health(), protocol };
}
