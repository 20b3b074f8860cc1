/**
 * The revoked token ids, held without one JavaScript string per id: a list of 100,000 ids as a Set of strings
 * is 100,000 heap objects that the garbage collector walks, and that it must sweep when the list is replaced
 * (tens of milliseconds of pause). Here hexadecimal ids (all that Keystone issues: MD5 or SHA-256 of the token)
 * are bytes in one sorted table per width, looked up by binary search; any other id sits in a small Set.
 */

/** What `buildRevokedTables` returns: transferable between threads as is. */
export interface RevokedTables {
  /** One table per id width in bytes: `count` sorted, distinct ids of `width` bytes each. */
  tables: { width: number; count: number; bytes: Uint8Array }[];
  /** Ids that are not lower-case hexadecimal of an even length, lower-cased. */
  others: string[];
}

/**
 * Builds the tables from lower-cased ids. Self-contained (no imports, no inner functions): its source is also
 * run on the worker thread that reads large lists (see revocation-worker.ts).
 */
export function buildRevokedTables(ids: string[]): RevokedTables {
  const byWidth = new Map<number, string[]>();
  const others: string[] = [];
  for (const id of ids) {
    if (id.length > 0 && id.length <= 256 && id.length % 2 === 0 && /^[0-9a-f]+$/.test(id)) {
      const width = id.length / 2;
      let list = byWidth.get(width);
      if (!list) byWidth.set(width, (list = []));
      list.push(id);
    } else {
      others.push(id);
    }
  }
  const tables: RevokedTables['tables'] = [];
  for (const [width, list] of byWidth) {
    list.sort(); // lower-case hex: the order of the strings is the order of the bytes
    const bytes = Buffer.alloc(list.length * width);
    let count = 0;
    let previous = '';
    for (const id of list) {
      if (id === previous) continue;
      bytes.write(id, count * width, 'hex');
      previous = id;
      count++;
    }
    tables.push({ width, count, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, count * width) });
  }
  return { tables, others };
}

const HEX = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) HEX[65 + c] = HEX[97 + c] = 10 + c;

/** A read-only set of revoked ids (`has` and `size`, as a Set<string> would offer). */
export class RevokedSet {
  readonly size: number;
  private readonly tables = new Map<number, { count: number; bytes: Uint8Array }>();
  private readonly others: Set<string>;
  private readonly key = new Uint8Array(128);

  constructor(built: RevokedTables) {
    let size = 0;
    for (const table of built.tables) {
      this.tables.set(table.width, table);
      size += table.count;
    }
    this.others = new Set(built.others);
    this.size = size + this.others.size;
  }

  static of(ids: Iterable<string>): RevokedSet {
    return new RevokedSet(buildRevokedTables([...ids].map((id) => id.toLowerCase())));
  }

  /** True when the id (any case) is on the list. */
  has(id: string): boolean {
    const table = id.length % 2 === 0 ? this.tables.get(id.length / 2) : undefined;
    if (table && this.decode(id)) return this.search(table.bytes, table.count, id.length / 2);
    return this.others.size > 0 && this.others.has(id.toLowerCase());
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

  private search(bytes: Uint8Array, count: number, width: number): boolean {
    const key = this.key;
    let low = 0;
    let high = count - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const base = middle * width;
      let order = 0;
      for (let i = 0; i < width && order === 0; i++) order = bytes[base + i]! - key[i]!;
      if (order === 0) return true;
      if (order < 0) low = middle + 1;
      else high = middle - 1;
    }
    return false;
  }
}

/**
 * The key an audit id is held under. Keystone's audit ids are 22 characters of urlsafe base64 (16 random bytes,
 * unpadded): those become 32 hex digits (bytes in a table, as token hashes are); any other string is kept
 * exactly, case and all, as "x" + the hex of its UTF-8 bytes. Self-contained: its source also runs on the
 * worker thread.
 */
export function auditKey(id: string): string {
  if (id.length === 22 && /^[A-Za-z0-9_-]+$/.test(id)) {
    const bytes = Buffer.from(id, 'base64url');
    if (bytes.toString('base64url') === id) return bytes.toString('hex');
  }
  return 'x' + Buffer.from(id, 'utf8').toString('hex');
}

/** What a revocation list's content gives: the token ids, the audit ids, and how many entries lack an audit id. */
export interface RevocationTables {
  ids: RevokedTables;
  auditIds: RevokedTables;
  /** Entries naming a token by its id alone (lists from before Kilo, or tokens without audit ids). */
  withoutAuditId: number;
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

  static of(entries: Iterable<{ id?: string; audit_id?: string }>): RevocationEntries {
    const list = [...entries];
    return new RevocationEntries({
      ids: buildRevokedTables(list.flatMap((e) => (typeof e.id === 'string' ? [e.id.toLowerCase()] : []))),
      auditIds: buildRevokedTables(list.flatMap((e) => (typeof e.audit_id === 'string' ? [auditKey(e.audit_id)] : []))),
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
    return this.auditIds.size > 0 && this.auditIds.has(auditKey(auditId));
  }
}
