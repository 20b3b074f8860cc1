/**
 * Where validated tokens are remembered between requests and between processes. The in-process LRU and the
 * memcached store implement it; so can any user store (Redis, ...): pass it as the `cache` option.
 */
export interface TokenStore {
  /** The value stored under `key`, or undefined. */
  get(key: string): Promise<string | undefined | null>;
  /** Stores `value` under `key` for `ttlSeconds`. */
  set(key: string, value: string, ttlSeconds: number): Promise<unknown>;
  /** Releases sockets and timers. */
  close?(): Promise<void> | void;
}
