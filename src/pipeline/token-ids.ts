import { classifyToken, type TokenFormat } from '../token/format.js';
import { hashToken } from '../token/hash.js';

/** A token's format, its hash_algorithms hashes (the token itself when online) and its memory cache key. */
export interface TokenIds {
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
export function memoryKey(format: TokenFormat, id: string): string {
  return format === 'online' ? `online:${id}` : `pki:${id}`;
}

/**
 * The format, hashes and cache key of tokens. The last token's are kept: decide() and then validate() on a
 * cache miss ask for the same token's twice, and a hash of a 5 KB token is most of a cache hit's cost.
 */
export class TokenIdCache {
  private last: TokenIds | undefined;

  constructor(private readonly hashAlgorithms: readonly string[]) {}

  of(token: string): TokenIds {
    if (token === this.last?.token) return this.last;
    const format = classifyToken(token);
    const hashes = format === 'online' ? [token] : this.hashAlgorithms.map((algorithm) => hashToken(token, algorithm));
    this.last = { token, format, hashes, key: memoryKey(format, hashes[0]!) };
    return this.last;
  }
}
