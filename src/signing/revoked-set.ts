import { revocationCodec, type IdTable, type RevocationTables, type RevokedTables } from './revocation-codec.js';

export type { RevocationTables, RevokedTables } from './revocation-codec.js';

/**
 * The revoked token ids, held without one JavaScript string per id: a list of 1,000,000 ids as a Set of strings
 * is a million heap objects that the garbage collector walks, and that it must sweep when the list is replaced
 * (tens of milliseconds of pause). Here hexadecimal ids (all that Keystone issues: MD5 or SHA-256 of the token)
 * are bytes in one table per width with an open-addressing hash index; any other id sits in a small Set.
 */

const codec = revocationCodec();

const B64URL = new Int8Array(128).fill(-1);
for (let c = 0; c < 64; c++) B64URL['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charCodeAt(c)] = c;

const HEX = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) HEX[65 + c] = HEX[97 + c] = 10 + c;

/** A read-only set of revoked ids (`has` and `size`, as a Set<string> would offer). */
export class RevokedSet {
  readonly size: number;
  /** The tables the set was made of (read-only: merged into the next list's, see revocation-merge.ts). */
  readonly built: RevokedTables;
  private readonly tables = new Map<number, IdTable>();
  private readonly others: Set<string>;
  private readonly key = new Uint8Array(128);

  constructor(built: RevokedTables) {
    this.built = built;
    let size = 0;
    for (const table of built.tables) {
      this.tables.set(table.width, table);
      size += table.count;
    }
    this.others = new Set(built.others);
    this.size = size + this.others.size;
  }

  static of(ids: Iterable<string>): RevokedSet {
    return new RevokedSet(codec.tablesOf([...ids].map((id) => id.toLowerCase())));
  }

  /** True when the id (any case) is on the list. */
  has(id: string): boolean {
    const table = id.length % 2 === 0 ? this.tables.get(id.length / 2) : undefined;
    if (table && this.decode(id)) return this.find(table);
    return this.others.size > 0 && this.others.has(id.toLowerCase());
  }

  /**
   * True when the audit id (exact) is on the list of audit keys (see auditKey): Keystone's 22-character form is
   * decoded straight into the lookup key, without the strings auditKey makes.
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
    return this.others.size > 0 && this.others.has(auditKey(id));
  }

  /** Hex into this.key; false when the id is not hex (it may then be among the others). */
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
 * The key an audit id is held under. Keystone's audit ids are 22 characters of urlsafe base64 (16 random bytes,
 * unpadded): those become 32 hex digits (bytes in a table, as token hashes are); any other string is kept
 * exactly, case and all, as "x" + the hex of its UTF-8 bytes.
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
      auditIds: codec.tablesOf(list.flatMap((e) => (typeof e.audit_id === 'string' ? [auditKey(e.audit_id)] : []))),
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
