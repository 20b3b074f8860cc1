import { createHash, getHashes } from 'node:crypto';
import { classifyToken } from './format.js';

const available = new Set(getHashes().map((name) => name.toLowerCase()));

/** True when node:crypto offers the hash algorithm named (as in hash_algorithms: md5, sha256, ...). */
export function isHashAlgorithm(name: string): boolean {
  return available.has(name.toLowerCase());
}

/**
 * The id of a token as keystoneclient's `cms_hash_token` computes it: for PKI and PKIZ tokens the lower-case
 * hex digest of the UTF-8 token, for any other token the token itself. Cache keys and revocation ids use it.
 */
export function hashToken(token: string, algorithm = 'md5'): string {
  if (classifyToken(token) === 'online') return token;
  return createHash(algorithm).update(token, 'utf8').digest('hex');
}

/** A short, safe name of a token for logs: never the token itself, even for online tokens. */
export function tokenLogId(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 16);
}
