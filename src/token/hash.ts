import * as crypto from 'node:crypto';
import { createHash, getHashes } from 'node:crypto';
import { classifyToken } from './format.js';

const available = new Set(getHashes().map((name) => name.toLowerCase()));

/** True when node:crypto offers the hash algorithm named (as in hash_algorithms: md5, sha256, ...). */
export function isHashAlgorithm(name: string): boolean {
  return available.has(name.toLowerCase());
}

/** One-shot digest (crypto.hash, Node >= 20.12: no Hash object per call), else createHash. */
const digestHex: (algorithm: string, text: string) => string =
  typeof crypto.hash === 'function' ? (algorithm, text) => crypto.hash(algorithm, text, 'hex') : (algorithm, text) => createHash(algorithm).update(text, 'utf8').digest('hex');

/**
 * The id of a token as keystoneclient's `cms_hash_token` computes it: for PKI and PKIZ tokens the lower-case
 * hex digest of the UTF-8 token, for any other token the token itself. Revocation ids (and in-process cache keys of PKI tokens) use it.
 */
export function hashToken(token: string, algorithm = 'md5'): string {
  if (classifyToken(token) === 'online') return token;
  return digestHex(algorithm, token);
}

/** A short, safe name of a token for logs: never the token itself, even for online tokens. */
export function tokenLogId(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 16);
}
