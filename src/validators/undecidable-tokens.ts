import { createHash } from 'node:crypto';
import { IdentityServerError } from '../errors.js';

/** The most tokens remembered as undecidable: each entry is a fixed ~250 bytes (hash key, time, code), so ~250 KiB. */
export const UNDECIDABLE_MAX_ENTRIES = 1024;

interface Judgement {
  /** When the refetch cooldown that made the token undecidable ends (ms since epoch). */
  until: number;
  /** The failure that only fresher certificates could have cured (ERR_SIGNER_MISMATCH, ...). */
  cause: string;
}

/**
 * Tokens already judged undecidable (ERR_CERTIFICATE_REFETCH_PENDING) in the current certificate refetch
 * cooldown, by the SHA-256 of the token, so that the same token sent again is answered the same 503 at once
 * instead of being decoded and verified again. Bounded in entries (and so in bytes: each entry has a fixed
 * size, the token itself is never kept). Only the very same token string is ever answered from here, and only
 * against the same signing material and until the cooldown ends: another client's token, a valid token of the
 * current signer, and a token of a rotated signer after the next refetch are all judged afresh.
 */
export class UndecidableTokens {
  private readonly entries = new Map<string, Judgement>();
  private material: object | undefined;

  constructor(private readonly maxEntries = UNDECIDABLE_MAX_ENTRIES) {}

  get size(): number {
    return this.entries.size;
  }

  static keyOf(token: string): string {
    return createHash('sha256').update(token).digest('base64');
  }

  /**
   * The 503 to answer again for `token`, judged against `material`, or undefined. The token is hashed only when
   * some token is held: a request in a calm time pays nothing here.
   */
  recall(token: string, material: object, now = Date.now()): IdentityServerError | undefined {
    if (this.entries.size === 0) return undefined;
    if (material !== this.material) {
      this.entries.clear(); // new certificates: every token is judged afresh
      return undefined;
    }
    const key = UndecidableTokens.keyOf(token);
    const judgement = this.entries.get(key);
    if (!judgement) return undefined;
    if (judgement.until <= now) {
      this.entries.delete(key);
      return undefined;
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((judgement.until - now) / 1000));
    return new IdentityServerError(
      'ERR_CERTIFICATE_REFETCH_PENDING',
      `token refused with ${judgement.cause} and already judged undecidable in this certificate refetch cooldown: only fresher signing certificates can decide; retry in ${retryAfterSeconds} s`,
      { retryAfterSeconds },
    );
  }

  remember(token: string, material: object, until: number, cause: string): void {
    const key = UndecidableTokens.keyOf(token);
    if (material !== this.material) {
      this.entries.clear();
      this.material = material;
    }
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!); // the oldest
    this.entries.set(key, { until, cause: cause.slice(0, 40) });
  }
}
