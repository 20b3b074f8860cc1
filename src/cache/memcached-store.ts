import { crc32 } from 'node:zlib';
import memjs from 'memjs';
import type { Logger } from '../logger.js';
import type { TokenStore } from './token-store.js';
import { useTls, type MemcachedTlsContext } from './memcached-tls.js';

/**
 * python-memcached's server choice (cmemcache_hash: crc32 >> 16 & 0x7fff, modulo the server list), so Node and
 * Python services sharing a pool of several memcached servers look for a key on the same server.
 */
export function pythonMemcachedServerIndex(key: string, serverCount: number): number {
  const hash = ((crc32(Buffer.from(key, 'utf8')) >>> 16) & 0x7fff) || 1;
  return hash % serverCount;
}

/**
 * The memcached token store (memjs: binary protocol, keep-alive, automatic reconnection, failover to the
 * next server while one is down). Values are stored with flags 0, as python-memcached stores bytes.
 */
export class MemcachedStore implements TokenStore {
  private readonly client: memjs.Client;

  private tlsFailure: string | undefined;

  /** `tls`: every server is spoken to over TLS only (memcache_tls_enabled), never in clear. */
  constructor(servers: string[], options: { timeoutMs: number; logger: Logger; tls?: MemcachedTlsContext }) {
    const quiet = { log: (...args: unknown[]) => options.logger.debug({ memcached: args.map(String).join(' ') }, 'memcached client') };
    this.client = memjs.Client.create(servers.join(','), {
      timeout: options.timeoutMs / 1000,
      conntimeout: options.timeoutMs / 1000,
      retries: 1,
      failover: servers.length > 1,
      failoverTime: 5,
      keepAlive: true,
      logger: quiet,
    } as memjs.ClientOptions);
    // Replace memjs' own key hashing by python-memcached's, for mixed Python/Node fleets.
    (this.client as unknown as { getServer(key: string): number }).getServer = (key: string) => pythonMemcachedServerIndex(key, servers.length);
    const tls = options.tls;
    if (tls) {
      for (const server of (this.client as unknown as { servers: Parameters<typeof useTls>[0][] }).servers) {
        useTls(server, tls, (error) => {
          // Said once per kind of failure (not per request): why the shared cache is not used.
          if (this.tlsFailure === error.message) return;
          this.tlsFailure = error.message;
          options.logger.warn({ memcached: `${server.host}:${server.port}`, error: error.message }, 'TLS to memcached failed (memcache_tls_*: CA file, certificate, host name, or a server without TLS); requests are validated without the shared cache, and nothing is sent in clear');
        });
      }
    }
  }

  async get(key: string): Promise<string | undefined> {
    const { value } = await this.client.get(key);
    this.tlsFailure = undefined;
    return value === null ? undefined : value.toString('utf8');
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<unknown> {
    return this.client.set(key, value, { expires: ttlSeconds });
  }

  close(): void {
    this.client.close();
  }
}
