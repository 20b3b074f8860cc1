import { ODD_HASH_BYTES, revocationCodec, type IdTable, type RevocationTables, type RevokedTables } from './revocation-codec.js';

export type { RevocationTables, RevokedTables } from './revocation-codec.js';

/**
 * The revoked token ids, held without one JavaScript string per id: a list of 1,000,000 ids as a Set of strings
 * is a million heap objects that the garbage collector walks, and that it must sweep when the list is replaced
 * (tens of milliseconds of pause). Here hexadecimal ids (all that Keystone issues: MD5 or SHA-256 of the token)
 * and Keystone's audit ids are bytes in one sorted table per width; any other id (a UUID audit id, a token id
 * that is not hex) is its UTF-8 bytes in a table of the odd family (see RevokedTables): a lookup writes the id
 * into one reused buffer and searches, with no string made for a hex id or an audit id.
 */

const codec = revocationCodec();

const B64URL = new Int8Array(128).fill(-1);
for (let c = 0; c < 64; c++) B64URL['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charCodeAt(c)] = c;

const HEX = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) HEX[65 + c] = HEX[97 + c] = 10 + c;

/** How many ids a RevokedSet holds in each family of tables (see RevokedTables). */
export interface RevokedCounts {
  /** Ids held decoded: hexadecimal token ids, audit ids in Keystone's 22-character form. */
  decoded: number;
  /** Ids of any other shape, held as their UTF-8 bytes. */
  odd: number;
}

/** A read-only set of revoked ids (`has` and `size`, as a Set<string> would offer). */
export class RevokedSet {
  readonly size: number;
  /** How many of `size` each family of tables holds. */
  readonly counts: RevokedCounts;
  /** The tables the set was made of (read-only: merged into the next list's, see revocation-merge.ts). */
  readonly built: RevokedTables;
  private readonly tables = new Map<number, IdTable>();
  private readonly odd = new Map<number, IdTable>();
  /** The lookup key, reused: a decoded id, or an odd id's hash and UTF-8 bytes (grown for a long one). */
  private key = Buffer.alloc(256);

  constructor(built: RevokedTables) {
    this.built = built;
    const counts = { decoded: 0, odd: 0 };
    for (const table of built.tables) {
      this.tables.set(table.width, table);
      counts.decoded += table.count;
    }
    for (const table of built.odd) {
      this.odd.set(table.width, table);
      counts.odd += table.count;
    }
    this.counts = counts;
    this.size = counts.decoded + counts.odd;
  }

  static of(ids: Iterable<string>): RevokedSet {
    return new RevokedSet(codec.tablesOf([...ids].map((id) => id.toLowerCase())));
  }

  /** True when the id (any case) is on the list. */
  has(id: string): boolean {
    if (id.length > 0 && id.length <= 256 && id.length % 2 === 0 && this.decode(id)) {
      const table = this.tables.get(id.length / 2);
      return table !== undefined && this.find(table);
    }
    if (this.odd.size === 0) return false;
    const lower = id.toLowerCase();
    // (As the list's ids were filed: a lower-cased id that is hex is in the decoded tables.)
    if (lower !== id && lower.length > 0 && lower.length <= 256 && lower.length % 2 === 0 && this.decode(lower)) {
      const table = this.tables.get(lower.length / 2);
      return table !== undefined && this.find(table);
    }
    return this.hasOdd(lower);
  }

  /**
   * True when the audit id (exact) is on the list (see auditKey): Keystone's 22-character form is decoded
   * straight into the lookup key, any other audit id written into it as UTF-8; no string is made.
   */
  hasAuditId(id: string): boolean {
    if (id.length === 22) {
      const key = this.key;
      let value = 0;
      let bits = 0;
      let at = 0;
      let valid = true;
      for (let i = 0; i < 22 && valid; i++) {
        const sextet = B64URL[id.charCodeAt(i)] ?? -1;
        if (sextet < 0) valid = false;
        value = ((value << 6) | sextet) & 0xfff;
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          key[at++] = (value >> bits) & 0xff;
        }
      }
      if (valid && (value & ((1 << bits) - 1)) === 0) {
        const table = this.tables.get(16);
        return table !== undefined && this.find(table);
      }
    }
    return this.odd.size > 0 && this.hasOdd(id);
  }

  /** Whether `id`, as its UTF-8 bytes, is in the odd family (Buffer's write: a lone surrogate as U+FFFD). */
  private hasOdd(id: string): boolean {
    if (ODD_HASH_BYTES + id.length * 3 > this.key.length) this.key = Buffer.alloc(ODD_HASH_BYTES + id.length * 3);
    const length = this.key.write(id, ODD_HASH_BYTES, 'utf8');
    const table = this.odd.get(ODD_HASH_BYTES + length);
    if (!table) return false;
    codec.oddKey(this.key, length);
    return codec.find(table, this.key);
  }

  /** Hex into this.key; false when the id is not hex (it may then be an odd id). */
  private decode(id: string): boolean {
    const key = this.key;
    for (let i = 0, j = 0; j < id.length; i++, j += 2) {
      const high = HEX[id.charCodeAt(j)] ?? -1;
      const low = HEX[id.charCodeAt(j + 1)] ?? -1;
      if (high < 0 || low < 0) return false;
      key[i] = (high << 4) | low;
    }
    return true;
  }

  private find(table: IdTable): boolean {
    return codec.find(table, this.key);
  }

}

/**
 * A string naming the key an audit id is held under (two audit ids are one entry when theirs are equal).
 * Keystone's audit ids are 22 characters of urlsafe base64 (16 random bytes, unpadded): those are held as their
 * 16 bytes, named by 32 hex digits; any other string is held exactly, case and all, as its UTF-8 bytes, named
 * "x" + their hex.
 */
export function auditKey(id: string): string {
  return codec.auditKey(id);
}


/**
 * A revocation list as keystonemiddleware checked it (the CVE-2015-7546 fix): by token id, and by audit id, which
 * every variant of a signed token carries in its signed body whatever its encoding.
 */
export class RevocationEntries {
  readonly ids: RevokedSet;
  readonly auditIds: RevokedSet;
  readonly withoutAuditId: number;

  constructor(tables: RevocationTables) {
    this.ids = new RevokedSet(tables.ids);
    this.auditIds = new RevokedSet(tables.auditIds);
    this.withoutAuditId = tables.withoutAuditId;
  }

  /** Entries (their `expires` unknown: see UNKNOWN_EXPIRY). */
  static of(entries: Iterable<{ id?: string; audit_id?: string }>): RevocationEntries {
    const list = [...entries];
    return new RevocationEntries({
      ids: codec.tablesOf(list.flatMap((e) => (typeof e.id === 'string' ? [e.id.toLowerCase()] : []))),
      auditIds: codec.tablesOf(list.flatMap((e) => (typeof e.audit_id === 'string' ? [e.audit_id] : [])), undefined, 'audit'),
      withoutAuditId: list.filter((e) => typeof e.audit_id !== 'string').length,
    });
  }

  /** Number of entries (token ids). */
  get size(): number {
    return this.ids.size;
  }

  /** True when the token id (any case) is on the list. */
  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** True when the audit id (exact) is on the list. */
  hasAuditId(auditId: string): boolean {
    return this.auditIds.size > 0 && this.auditIds.hasAuditId(auditId);
  }
}
