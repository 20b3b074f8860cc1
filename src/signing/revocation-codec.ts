/**
 * Reading a revocation list's content, {"revoked": [{"id": …, "expires": …, "audit_id": …}, …]}, straight from
 * its UTF-8 bytes into id tables: no JSON.parse, no string per entry, no sort. A list of 1,000,000 entries is
 * ~120 MB of JSON; JSON.parse makes 4 million strings of it and takes seconds, where this walk takes a fraction
 * of one and leaves only the tables behind (16 bytes per MD5 id or audit id, plus a hash index).
 *
 * Everything here is self-contained inside `revocationCodec()` (no reference to this module's other names): its
 * source is also run, as text, on the worker thread that reads large lists (see revocation-worker.ts).
 */

/**
 * Ids of one width (bytes per id), distinct and sorted, with an index on their leading `bits` bits: the ids
 * starting with p are entries index[p] to index[p + 1] - 1.
 */
export interface IdTable {
  width: number;
  count: number;
  bits: number;
  bytes: Uint8Array;
  index: Uint32Array;
  /** Each id's `expires`, in seconds since the epoch (UNKNOWN_EXPIRY when the list gave none that parses). */
  expires: Uint32Array;
}

/** The expiry of an entry whose `expires` is absent or does not parse: never (it is kept, failing closed). */
export const UNKNOWN_EXPIRY = 0xffffffff;

/** A set of ids: hexadecimal ones as bytes in tables (one per width), any other one as a lower-cased string. */
export interface RevokedTables {
  tables: IdTable[];
  others: string[];
  /** The expiry of each of `others` (as IdTable.expires). */
  othersExpires: number[];
}

/** What a revocation list's content gives: the token ids, the audit ids, and how many entries lack an audit id. */
export interface RevocationTables {
  ids: RevokedTables;
  auditIds: RevokedTables;
  /** Entries naming a token by its id alone (lists from before Kilo, or tokens without audit ids). */
  withoutAuditId: number;
}

export interface RevocationCodec {
  /** The content's entries, as JSON.parse followed by reading `revoked[].id`/`audit_id` would see them. */
  scanContent(bytes: Uint8Array): RevocationTables;
  /** Tables of already lower-cased ids (token ids) or audit keys, each expiring at `expires` (seconds). */
  tablesOf(ids: Iterable<string>, expires?: number): RevokedTables;
  /** The key an audit id is held under (see revoked-set.ts). */
  auditKey(id: string): string;
  /**
   * A decoder of the signed list, fed as bytes arrive: 'json' reads Keystone's answer {"signed": "<PEM>"},
   * 'pem' the PEM of revoked.pem. `end()` gives the DER, on a SharedArrayBuffer when `shared`. `sizeHint` (the
   * expected input length, when known) sizes the output once.
   */
  envelope(kind: 'json' | 'pem', sizeHint?: number, shared?: boolean, initial?: SharedArrayBuffer): EnvelopeDecoder;
  /** Whether `key` (its first `table.width` bytes) is in the table. */
  find(table: IdTable, key: Uint8Array): boolean;
}

export interface EnvelopeDecoder {
  push(chunk: Uint8Array): void;
  end(): Uint8Array;
}

export function revocationCodec(): RevocationCodec {
  const HEX = new Int8Array(256).fill(-1);
  for (let c = 0; c < 10; c++) HEX[48 + c] = c;
  for (let c = 0; c < 6; c++) HEX[65 + c] = HEX[97 + c] = 10 + c;
  const B64URL = new Int8Array(256).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  for (let c = 0; c < 64; c++) B64URL[alphabet.charCodeAt(c)] = c;
  const MAX_DEPTH = 512;
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const UNKNOWN = 0xffffffff;
  /**
   * A buffer for a table of a large list, given at least 32 MiB of address space. glibc's malloc serves smaller
   * blocks from its arenas once its mmap threshold has risen (it rises to the size of each large block freed, up
   * to 32 MiB), and memory freed there mostly stays resident: a refresh's tables, built on a worker thread and
   * freed on the main thread when replaced, left ~90 MiB resident in the worker's arena after every refresh of a
   * 1,000,000-entry list. A block of 32 MiB or more is always mapped on its own and unmapped when freed; the pages
   * never written (the rounding, a table's unused capacity) are only address space.
   */
  const large = (bytes: number): ArrayBuffer => new ArrayBuffer(bytes >= 1 << 20 ? Math.max(bytes, 32 << 20) : bytes);
  /** `count` ids of `width` bytes and their expiries, on one buffer (see `large`). */
  const idsAndExpiries = (count: number, width: number, extra = 0): { bytes: Uint8Array; expires: Uint32Array; buffer: ArrayBuffer; after: number } => {
    const at = (count * width + 3) & ~3;
    const buffer = large(at + count * 4 + extra);
    return { bytes: new Uint8Array(buffer, 0, count * width), expires: new Uint32Array(buffer, at, count), buffer, after: at + count * 4 };
  };

  function find({ width, bits, bytes, index }: IdTable, key: Uint8Array): boolean {
    const p = ((((key[0]! << 16) | ((width > 1 ? key[1]! : 0) << 8) | (width > 2 ? key[2]! : 0)) >>> (24 - bits)));
    let low = index[p]!;
    let high = index[p + 1]! - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const base = middle * width;
      let order = 0;
      for (let k = 0; k < width && order === 0; k++) order = bytes[base + k]! - key[k]!;
      if (order === 0) return true;
      if (order < 0) low = middle + 1;
      else high = middle - 1;
    }
    return false;
  }

  /** Ids collected one by one, then indexed (duplicates dropped) by `finish`. */
  /**
   * `sourceLength`, the bytes the ids are read from, sizes each table once for the most ids it could hold (an id
   * of w bytes takes at least w + 4 bytes of JSON): a large allocation is only address space until written,
   * and growing by doubling left freed middle-sized blocks that the C allocator keeps (resident memory after a
   * million-entry refresh: +150 MiB, against +40 MiB sized once).
   */
  function builder(sourceLength = 0) {
    const byWidth = new Map<number, { count: number; bytes: Uint8Array; expires: Uint32Array }>();
    const others = new Map<string, number>();
    let lastWidth = -1;
    let lastTable: { count: number; bytes: Uint8Array; expires: Uint32Array } | undefined;
    /** The table for `width` with room for one more id at `count * width`. */
    function room(width: number) {
      let table = width === lastWidth ? lastTable : byWidth.get(width);
      if (!table) {
        const capacity = Math.max(64, Math.ceil(sourceLength / (width + 4)));
        const { bytes, expires } = idsAndExpiries(capacity, width);
        byWidth.set(width, (table = { count: 0, bytes, expires }));
      }
      if ((table.count + 1) * width > table.bytes.length) {
        const grown = idsAndExpiries(table.expires.length * 2, width);
        grown.bytes.set(table.bytes);
        grown.expires.set(table.expires);
        table.bytes = grown.bytes;
        table.expires = grown.expires;
      }
      lastWidth = width;
      lastTable = table;
      return table;
    }
    /** Hex digits `source[start, start + length)` (any case) as an id; false (nothing added) when not hex. */
    function addHex(source: Uint8Array, start: number, length: number, expires: number): boolean {
      const width = length >> 1;
      const table = room(width);
      const out = table.bytes;
      let at = table.count * width;
      for (let j = start, end = start + length; j < end; j += 2) {
        const high = HEX[source[j]!]!;
        const low = HEX[source[j + 1]!]!;
        if ((high | low) < 0) return false;
        out[at++] = (high << 4) | low;
      }
      table.expires[table.count++] = expires;
      return true;
    }
    /** A lower-cased id or audit key. */
    function addString(id: string, expires: number): void {
      if (id.length > 0 && id.length <= 256 && id.length % 2 === 0 && /^[0-9a-f]+$/.test(id)) addHex(Buffer.from(id, 'latin1'), 0, id.length, expires);
      else others.set(id, Math.max(expires, others.get(id) ?? 0));
    }
    /** 22 characters of canonical unpadded base64url (16 bytes); false (nothing added) otherwise. */
    function addAudit(source: Uint8Array, start: number, expires: number): boolean {
      const table = room(16);
      const out = table.bytes;
      let at = table.count * 16;
      let bits = 0;
      let value = 0;
      for (let j = start; j < start + 22; j++) {
        const sextet = B64URL[source[j]!]!;
        if (sextet < 0) return false;
        value = (value << 6) | sextet;
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          out[at++] = (value >> bits) & 0xff;
        }
      }
      if ((value & ((1 << bits) - 1)) !== 0) return false; // the 4 bits left over must be zero
      table.expires[table.count++] = expires;
      return true;
    }
    /**
     * Sorts each table by its bytes and drops duplicates, with a bucket sort on the leading bits (ids are hashes
     * or random, so buckets hold a few ids each) and an insertion sort inside each bucket; `index[p]` is where
     * the ids whose leading `bits` bits are p start. Sequential passes: a hash index built id by id misses the
     * CPU cache at every insertion, and at a million ids that is most of the time spent.
     */
    function finish(): RevokedTables {
      const tables: IdTable[] = [];
      for (const [width, table] of byWidth) {
        const { count, bytes: unsorted, expires: unsortedExpires } = table;
        let bits = 4;
        while (bits < 20 && 1 << bits < count >> 2) bits++;
        bits = Math.min(bits, width * 8);
        const shift = 24 - bits;
        // Loops written out by hand: a closure per comparison made this three times slower.
        const buckets = 1 << bits;
        const out = idsAndExpiries(count, width, (buckets + 1) * 4);
        const index = new Uint32Array(out.buffer, out.after, buckets + 1);
        const third = width > 2 ? 2 : 0;
        const second = width > 1 ? 1 : 0;
        const mask = (width > 2 ? 0xff : 0) | ((width > 1 ? 0xff : 0) << 8) | (0xff << 16);
        for (let at = 0, end = count * width; at < end; at += width) {
          index[((((unsorted[at]! << 16) | (unsorted[at + second]! << 8) | unsorted[at + third]!) & mask) >>> shift) + 1]!++;
        }
        for (let p = 0; p < buckets; p++) index[p + 1]! += index[p]!;
        const cursor = index.slice(0, buckets);
        const sorted = out.bytes;
        const expires = out.expires;
        // Ids of a multiple of 4 bytes (MD5, SHA-256, audit ids) move as 32-bit words: three times faster.
        const words = width % 4 === 0 && unsorted.byteOffset === 0 ? width >> 2 : 0;
        const from32 = words ? new Uint32Array(unsorted.buffer, 0, (count * width) >> 2) : undefined;
        const to32 = words ? new Uint32Array(sorted.buffer, 0, (count * width) >> 2) : undefined;
        for (let at = 0, n = 0, end = count * width; at < end; at += width, n++) {
          const slot = cursor[(((unsorted[at]! << 16) | (unsorted[at + second]! << 8) | unsorted[at + third]!) & mask) >>> shift]!++;
          expires[slot] = unsortedExpires[n]!;
          if (words) {
            for (let k = 0, to = slot * words, from = at >> 2; k < words; k++) to32![to + k] = from32![from + k]!;
          } else {
            for (let k = 0, to = slot * width; k < width; k++) sorted[to + k] = unsorted[at + k]!;
          }
        }
        const held = new Uint8Array(width);
        let unique = 0;
        for (let p = 0; p < buckets; p++) {
          const start = index[p]!;
          const end = index[p + 1]!;
          if (end - start > 32) {
            // A crowded bucket (ids that share leading bytes): sorted through an array of offsets.
            const offsets = Array.from({ length: end - start }, (_, k) => (start + k) * width);
            offsets.sort((x, y) => {
              for (let k = 0; k < width; k++) if (sorted[x + k] !== sorted[y + k]) return sorted[x + k]! - sorted[y + k]!;
              return 0;
            });
            const copy = new Uint8Array((end - start) * width);
            const expiresCopy = new Uint32Array(end - start);
            offsets.forEach((from, k) => {
              copy.set(sorted.subarray(from, from + width), k * width);
              expiresCopy[k] = expires[from / width]!;
            });
            sorted.set(copy, start * width);
            expires.set(expiresCopy, start);
          } else {
            // Insertion sort: a few ids, next to each other in memory.
            for (let i = start + 1; i < end; i++) {
              const at = i * width;
              let j = at - width;
              let d = 0;
              for (let k = 0; k < width && d === 0; k++) d = sorted[j + k]! - sorted[at + k]!;
              if (d <= 0) continue;
              for (let k = 0; k < width; k++) held[k] = sorted[at + k]!;
              const heldExpires = expires[i]!;
              for (let e = i - 1; ; e--) {
                if (words) for (let k = 0, x = j >> 2; k < words; k++) to32![x + words + k] = to32![x + k]!;
                else for (let k = 0; k < width; k++) sorted[j + width + k] = sorted[j + k]!;
                expires[e + 1] = expires[e]!;
                j -= width;
                if (j < start * width) break;
                d = 0;
                for (let k = 0; k < width && d === 0; k++) d = sorted[j + k]! - held[k]!;
                if (d <= 0) break;
              }
              for (let k = 0; k < width; k++) sorted[j + width + k] = held[k]!;
              expires[j / width + 1] = heldExpires;
            }
          }
          // Duplicates squeezed out, the index rewritten to the squeezed positions.
          index[p] = unique;
          for (let i = start; i < end; i++) {
            const at = i * width;
            if (i > start) {
              let same = true;
              for (let k = 0; k < width; k++) {
                if (sorted[at - width + k] !== sorted[at + k]) {
                  same = false;
                  break;
                }
              }
              if (same) {
                if (expires[i]! > expires[unique - 1]!) expires[unique - 1] = expires[i]!; // the later expiry
                continue;
              }
            }
            if (unique !== i) {
              for (let k = 0, to = unique * width; k < width; k++) sorted[to + k] = sorted[at + k]!;
              expires[unique] = expires[i]!;
            }
            unique++;
          }
        }
        index[buckets] = unique;
        tables.push({ width, count: unique, bits, bytes: sorted.subarray(0, unique * width), index, expires: expires.subarray(0, unique) });
      }
      return { tables, others: [...others.keys()], othersExpires: [...others.values()] };
    }
    return { addHex, addString, addAudit, finish };
  }

  function auditKey(id: string): string {
    if (id.length === 22 && /^[A-Za-z0-9_-]+$/.test(id)) {
      const bytes = Buffer.from(id, 'base64url');
      if (bytes.toString('base64url') === id) return bytes.toString('hex');
    }
    return 'x' + Buffer.from(id, 'utf8').toString('hex');
  }

  function tablesOf(ids: Iterable<string>, expires = UNKNOWN): RevokedTables {
    const tables = builder();
    for (const id of ids) tables.addString(id, expires);
    return tables.finish();
  }

  function scanContent(b: Uint8Array): RevocationTables {
    const n = b.length;
    let i = 0;
    // The last string scanned: b[strStart, strEnd), and whether it is plain ASCII without escapes.
    let strStart = 0;
    let strEnd = 0;
    let strPlain = true;

    const fail = (what: string): never => {
      throw new Error(i >= n ? `the revocation list's JSON ends early (${what})` : `the revocation list's JSON is invalid at byte ${i} (${what})`);
    };
    const ws = (): void => {
      let j = i;
      for (let c = b[j]; c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = b[++j]);
      i = j;
    };
    const expect = (c: number, what: string): void => {
      if (b[i] !== c) fail(what);
      i++;
    };
    /** A UTF-8 sequence whose lead byte is at i (>= 0x80), as a fatal TextDecoder accepts it. */
    const utf8Sequence = (): void => {
      const c = b[i]!;
      let more = 0;
      let low = 0x80;
      let high = 0xbf;
      if (c >= 0xc2 && c <= 0xdf) more = 1;
      else if (c >= 0xe0 && c <= 0xef) {
        more = 2;
        if (c === 0xe0) low = 0xa0;
        if (c === 0xed) high = 0x9f;
      } else if (c >= 0xf0 && c <= 0xf4) {
        more = 3;
        if (c === 0xf0) low = 0x90;
        if (c === 0xf4) high = 0x8f;
      } else fail('not UTF-8');
      i++;
      for (let k = 0; k < more; k++, i++) {
        const next = b[i];
        if (next === undefined || next < (k === 0 ? low : 0x80) || next > (k === 0 ? high : 0xbf)) fail('not UTF-8');
      }
    };
    const string = (): void => {
      expect(0x22, 'a string');
      strStart = i;
      strPlain = true;
      for (;;) {
        // The common run: printable ASCII other than '"' and '\\', in a local (a closure's variable is slower).
        let j = i;
        for (let c = b[j]!; c >= 0x20 && c < 0x80 && c !== 0x22 && c !== 0x5c; c = b[++j]!);
        i = j;
        if (i >= n) fail('an unterminated string');
        const c = b[i]!;
        if (c === 0x22) break;
        if (c === 0x5c) {
          strPlain = false;
          const e = b[i + 1];
          if (e === 0x75) {
            for (let k = 2; k < 6; k++) if (HEX[b[i + k] ?? 0]! < 0) fail('a bad \\u escape');
            i += 6;
          } else if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) i += 2;
          else fail('a bad escape');
        } else if (c < 0x20) fail('a control character in a string');
        else {
          strPlain = false;
          utf8Sequence();
        }
      }
      strEnd = i;
      i++;
    };
    /** The last string scanned, as JSON.parse gives it. */
    const text = (): string => (strPlain ? Buffer.from(b.buffer, b.byteOffset + strStart, strEnd - strStart).toString('latin1') : (JSON.parse(utf8.decode(b.subarray(strStart - 1, strEnd + 1))) as string));
    /** Whether the last string scanned is `name` (ASCII). */
    const named = (name: string): boolean => {
      if (!strPlain) return text() === name;
      if (strEnd - strStart !== name.length) return false;
      for (let k = 0; k < name.length; k++) if (b[strStart + k] !== name.charCodeAt(k)) return false;
      return true;
    };
    const digits = (): void => {
      const from = i;
      while (i < n && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
      if (i === from) fail('a digit');
    };
    const number = (): void => {
      if (b[i] === 0x2d) i++;
      if (b[i] === 0x30) i++;
      else if (b[i] !== undefined && b[i]! >= 0x31 && b[i]! <= 0x39) digits();
      else fail('a number');
      if (b[i] === 0x2e) {
        i++;
        digits();
      }
      if (b[i] === 0x65 || b[i] === 0x45) {
        i++;
        if (b[i] === 0x2b || b[i] === 0x2d) i++;
        digits();
      }
    };
    const literal = (word: string): void => {
      for (let k = 0; k < word.length; k++, i++) if (b[i] !== word.charCodeAt(k)) fail(`"${word}"`);
    };
    /**
     * The object (or array) at i: for each member, its key is scanned (the last string, see `named`) and `each`
     * reads the value at i; for an array, `each` reads each element at i.
     */
    const container = (keyed: boolean, each: () => void): void => {
      const close = keyed ? 0x7d : 0x5d;
      expect(keyed ? 0x7b : 0x5b, keyed ? '"{"' : '"["');
      ws();
      if (b[i] === close) {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (keyed) {
          string();
          ws();
          expect(0x3a, '":"');
          ws();
        }
        each();
        ws();
        if (b[i] === 0x2c) i++;
        else return expect(close, keyed ? '"," or "}"' : '"," or "]"');
      }
    };
    const object = (member: () => void): void => container(true, member);
    const array = (element: () => void): void => container(false, element);
    /** Any value at i, checked and skipped. */
    const value = (depth: number): void => {
      if (depth > MAX_DEPTH) fail('nesting deeper than 512');
      const c = b[i];
      const inner = () => value(depth + 1);
      if (c === 0x22) string();
      else if (c === 0x7b) object(inner);
      else if (c === 0x5b) array(inner);
      else if (c === 0x74) literal('true');
      else if (c === 0x66) literal('false');
      else if (c === 0x6e) literal('null');
      else if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) number();
      else fail('a value');
    };

    let ids = builder(n);
    let audits = builder(n);
    let withoutAuditId = 0;
    let revokedIsArray = false;

    /** An id or audit id found as b[start, end), `plain` when without escapes or non-ASCII. */
    const addId = (start: number, end: number, plain: boolean, expires: number): void => {
      const length = end - start;
      if (!(plain && length > 0 && length <= 256 && (length & 1) === 0 && ids.addHex(b, start, length, expires))) {
        strStart = start;
        strEnd = end;
        strPlain = plain;
        ids.addString(text().toLowerCase(), expires);
      }
    };
    const addAuditId = (start: number, end: number, plain: boolean, expires: number): void => {
      if (!(plain && end - start === 22 && audits.addAudit(b, start, expires))) {
        strStart = start;
        strEnd = end;
        strPlain = plain;
        audits.addString(auditKey(text()), expires);
      }
    };
    /** `count` decimal digits at `at`, or -1. */
    const decimal = (at: number, count: number): number => {
      let value = 0;
      for (let k = 0; k < count; k++) {
        const d = b[at + k]! - 0x30;
        if (!(d >= 0 && d <= 9)) return -1;
        value = value * 10 + d;
      }
      return value;
    };
    /**
     * An entry's `expires`, b[start, end), in seconds since the epoch (a fraction rounds up): ISO 8601 as Keystone
     * writes it ("2030-01-01T00:00:00.000000Z", "+00:00", or no zone: UTC); any other text as Date.parse reads it;
     * UNKNOWN when it does not parse.
     */
    const expiry = (start: number, end: number, plain: boolean): number => {
      if (start < 0) return UNKNOWN;
      if (plain && end - start >= 19 && b[start + 4] === 0x2d && b[start + 7] === 0x2d && (b[start + 10] === 0x54 || b[start + 10] === 0x74 || b[start + 10] === 0x20) && b[start + 13] === 0x3a && b[start + 16] === 0x3a) {
        let y = decimal(start, 4);
        const m = decimal(start + 5, 2);
        const d = decimal(start + 8, 2);
        const hh = decimal(start + 11, 2);
        const mm = decimal(start + 14, 2);
        const ss = decimal(start + 17, 2);
        let p = start + 19;
        let fraction = 0;
        if (b[p] === 0x2e) {
          for (p++; p < end && b[p]! >= 0x30 && b[p]! <= 0x39; p++) if (b[p] !== 0x30) fraction = 1;
        }
        let offset = 0;
        let zoned = p === end || ((b[p] === 0x5a || b[p] === 0x7a) && p + 1 === end);
        if (!zoned && (b[p] === 0x2b || b[p] === 0x2d) && end - p === 6 && b[p + 3] === 0x3a) {
          const oh = decimal(p + 1, 2);
          const om = decimal(p + 4, 2);
          if (oh >= 0 && om >= 0) {
            offset = (b[p] === 0x2b ? 1 : -1) * (oh * 3600 + om * 60);
            zoned = true;
          }
        }
        if (zoned && y >= 1970 && m >= 1 && m <= 12 && d >= 1 && d <= 31 && hh >= 0 && hh <= 23 && mm >= 0 && mm <= 59 && ss >= 0 && ss <= 60) {
          // Days from the civil date (H. Hinnant's algorithm).
          y -= m <= 2 ? 1 : 0;
          const era = Math.floor(y / 400);
          const yoe = y - era * 400;
          const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
          const days = era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
          const seconds = days * 86400 + hh * 3600 + mm * 60 + ss + fraction - offset;
          return seconds >= 0 && seconds < UNKNOWN ? seconds : UNKNOWN;
        }
      }
      strStart = start;
      strEnd = end;
      strPlain = plain;
      const ms = Date.parse(text());
      return Number.isFinite(ms) && ms >= 0 && Math.ceil(ms / 1000) < UNKNOWN ? Math.ceil(ms / 1000) : UNKNOWN;
    };
    /**
     * The common entry, all in locals: an object whose members are strings of printable ASCII without escapes.
     * Anything else returns false having changed nothing, and the entry is read by the general path.
     */
    const plainEntry = (): boolean => {
      let j = i + 1;
      let idStart = -1;
      let idEnd = 0;
      let auditStart = -1;
      let auditEnd = 0;
      let expiresStart = -1;
      let expiresEnd = 0;
      let c = b[j];
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++j];
      if (c === 0x7d) j++;
      else {
        for (;;) {
          while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++j];
          if (c !== 0x22) return false;
          const keyStart = ++j;
          for (c = b[j]; c !== undefined && c >= 0x20 && c < 0x80 && c !== 0x22 && c !== 0x5c; c = b[++j]);
          if (c !== 0x22) return false;
          const keyLength = j - keyStart;
          const kind = keyLength === 2 && b[keyStart] === 0x69 && b[keyStart + 1] === 0x64 ? 1 : keyLength === 8 && b[keyStart] === 0x61 && b[keyStart + 5] === 0x5f && named8(keyStart) ? 2 : keyLength === 7 && b[keyStart] === 0x65 && named7(keyStart) ? 3 : 0;
          c = b[++j];
          while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++j];
          if (c !== 0x3a) return false;
          c = b[++j];
          while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++j];
          if (c !== 0x22) return false;
          const valueStart = ++j;
          for (c = b[j]; c !== undefined && c >= 0x20 && c < 0x80 && c !== 0x22 && c !== 0x5c; c = b[++j]);
          if (c !== 0x22) return false;
          if (kind === 1) {
            idStart = valueStart;
            idEnd = j;
          } else if (kind === 2) {
            auditStart = valueStart;
            auditEnd = j;
          } else if (kind === 3) {
            expiresStart = valueStart;
            expiresEnd = j;
          }
          c = b[++j];
          while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++j];
          if (c === 0x2c) {
            c = b[++j];
            continue;
          }
          if (c !== 0x7d) return false;
          j++;
          break;
        }
      }
      i = j;
      const expires = expiry(expiresStart, expiresEnd, true);
      if (idStart >= 0) addId(idStart, idEnd, true, expires);
      if (auditStart >= 0 && auditEnd > auditStart) addAuditId(auditStart, auditEnd, true, expires);
      else withoutAuditId++;
      return true;
    };
    /** Whether the 7 bytes at `at` are "expires". */
    const named7 = (at: number): boolean => b[at + 1] === 0x78 && b[at + 2] === 0x70 && b[at + 3] === 0x69 && b[at + 4] === 0x72 && b[at + 5] === 0x65 && b[at + 6] === 0x73;
    /** Whether the 8 bytes at `at` are "audit_id". */
    const named8 = (at: number): boolean => b[at + 1] === 0x75 && b[at + 2] === 0x64 && b[at + 3] === 0x69 && b[at + 4] === 0x74 && b[at + 6] === 0x69 && b[at + 7] === 0x64;

    /** One entry of the "revoked" array, at i. */
    const entry = (): void => {
      if (b[i] === 0x7b && plainEntry()) return;
      if (b[i] !== 0x7b) {
        value(2);
        withoutAuditId++;
        return;
      }
      // The last "id" and "audit_id" members (as JSON.parse keeps the last of duplicate keys): string bounds, or -1.
      let idStart = -1;
      let idEnd = 0;
      let idPlain = true;
      let auditStart = -1;
      let auditEnd = 0;
      let auditPlain = true;
      let expiresStart = -1;
      let expiresEnd = 0;
      let expiresPlain = true;
      object(() => {
        const isId = named('id');
        const isAudit = !isId && named('audit_id');
        const isExpires = !isId && !isAudit && named('expires');
        if (isExpires) {
          expiresStart = -1;
          if (b[i] !== 0x22) return value(3);
          string();
          expiresStart = strStart;
          expiresEnd = strEnd;
          expiresPlain = strPlain;
          return;
        }
        if ((isId || isAudit) && b[i] === 0x22) {
          string();
          if (isId) {
            idStart = strStart;
            idEnd = strEnd;
            idPlain = strPlain;
          } else {
            auditStart = strStart;
            auditEnd = strEnd;
            auditPlain = strPlain;
          }
        } else {
          value(3);
          if (isId) idStart = -1;
          if (isAudit) auditStart = -1;
        }
      });
      const expires = expiry(expiresStart, expiresEnd, expiresPlain);
      if (idStart >= 0) addId(idStart, idEnd, idPlain, expires);
      if (auditStart >= 0 && auditEnd > auditStart) addAuditId(auditStart, auditEnd, auditPlain, expires);
      else withoutAuditId++;
    };

    if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) i = 3; // a BOM, which TextDecoder drops
    ws();
    if (b[i] !== 0x7b) {
      value(0);
      ws();
      if (i < n) fail('the end');
      throw new Error('the revocation list has no "revoked" array');
    }
    object(() => {
      if (!named('revoked')) return value(1);
      // A repeated "revoked" member replaces the earlier one, as in JSON.parse.
      ids = builder(n);
      audits = builder(n);
      withoutAuditId = 0;
      revokedIsArray = b[i] === 0x5b;
      if (revokedIsArray) array(entry);
      else value(1);
    });
    ws();
    if (i < n) fail('the end');
    if (!revokedIsArray) throw new Error('the revocation list has no "revoked" array');
    return { ids: ids.finish(), auditIds: audits.finish(), withoutAuditId };
  }

  function envelope(kind: 'json' | 'pem', sizeHint = 0, shared = false, initial?: SharedArrayBuffer): EnvelopeDecoder {
    const B64 = new Int8Array(256).fill(-1);
    const standard = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    for (let c = 0; c < 64; c++) B64[standard.charCodeAt(c)] = c;
    const allocate = (size: number): Uint8Array => (shared ? new Uint8Array(new SharedArrayBuffer(size)) : new Uint8Array(size));
    const fail = (what: string): never => {
      throw new Error(what);
    };
    const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

    // The DER: `o` bytes written; `quad` holds `have` sextets of the group being read, `pads` the '=' seen.
    let out = initial ? new Uint8Array(initial) : allocate(sizeHint > 0 ? Math.ceil((sizeHint * 3) / 4) + 16 : 1 << 20);
    let o = 0;
    let quad = 0;
    let have = 0;
    let pads = 0;
    // The PEM framing: a state, the text being matched in it, and the label (CMS or PKCS7).
    const LEAD = 0, BEGIN = 1, LABEL = 2, DASHES = 3, BODY = 4, PAD = 5, END = 6, TRAILER = 7;
    let pem = LEAD;
    let matching = '';
    let matched = 0;
    let label = '';
    // The JSON around the PEM: everything but the PEM is copied into `skeleton` (the PEM as ""), which
    // JSON.parse checks at the end; only the string value of the top-level "signed" member is decoded.
    const json = kind === 'json';
    const SKELETON_MAX = 64 * 1024;
    const skeleton = new Uint8Array(SKELETON_MAX);
    let kept = 0;
    let depth = 0;
    let topIsObject = false;
    let expectKey = false;
    let inString = false;
    let escaped = false;
    let keyStart = -1; // where, in the skeleton, the key being read starts (depth 1, key position)
    let lastKey = '';
    let signedNext = false;
    let inSigned = !json; // a PEM file is all PEM
    let signedFound = !json;
    let started = false;
    let carry: Uint8Array | undefined;

    const keep = (c: number): void => {
      if (kept >= SKELETON_MAX) fail('the answer has no "signed" revocation list within its first 64 KB of other JSON');
      skeleton[kept++] = c;
    };
    const restart = (): void => {
      o = quad = have = pads = 0;
      pem = LEAD;
      matched = 0;
      label = '';
    };
    const match = (c: number, next: number): void => {
      if (c !== matching.charCodeAt(matched)) fail('the revocation list is not PEM CMS');
      if (++matched === matching.length) pem = next;
    };
    /** One character of the PEM text (after JSON unescaping), outside the fast path. */
    const pemChar = (c: number): void => {
      switch (pem) {
        case LEAD:
          if (isSpace(c)) return;
          pem = BEGIN;
          matching = '-----BEGIN ';
          matched = 0;
          match(c, LABEL);
          return;
        case BEGIN:
          match(c, LABEL);
          return;
        case LABEL:
          if (c !== 0x2d) {
            label += String.fromCharCode(c);
            if (label.length > 5) fail('the revocation list is not PEM CMS');
            return;
          }
          if (label !== 'CMS' && label !== 'PKCS7') fail('the revocation list is not PEM CMS');
          pem = DASHES;
          matching = '-----';
          matched = 1;
          return;
        case DASHES:
          match(c, BODY);
          return;
        case BODY:
        case PAD:
          if (isSpace(c)) return;
          if (c === 0x2d) {
            pem = END;
            matching = `-----END ${label}-----`;
            matched = 1;
            return;
          }
          if (c === 0x3d && pads < 2 && have >= 2) {
            pads++;
            pem = PAD;
            return;
          }
          if (pem === BODY && B64[c]! >= 0) {
            quad = (quad << 6) | B64[c]!;
            if (++have === 4) {
              out[o] = quad >>> 16;
              out[o + 1] = (quad >>> 8) & 0xff;
              out[o + 2] = quad & 0xff;
              o += 3;
              have = quad = 0;
            }
            return;
          }
          fail('the revocation list is not valid base64');
          return;
        case END:
          match(c, TRAILER);
          return;
        default:
          if (!isSpace(c)) fail('the revocation list has text after its PEM footer');
      }
    };
    const newline = json ? '\\n' : '\n';
    const carriageReturn = json ? '\\r' : '\r';
    // Once the native path has declined a chunk, the rest of that chunk is read character by character (else
    // a chunk it declines would be scanned again at every group of four characters).
    let nativeDeclined = false;
    const refuse = (p: number): number => {
      nativeDeclined = true;
      return p;
    };
    let outBuffer = Buffer.from(out.buffer, out.byteOffset, out.length);
    /**
     * The common stretch, decoded by Node's native base64 (several times the speed of a loop here): lines of
     * base64 separated by newlines (escaped as \\n in JSON), nothing else. Node's decoder skips what is not
     * base64, so a stretch holding anything else decodes to fewer than 3 bytes per 4 characters and is left to
     * the character-by-character path; it also reads the url-safe '-' and '_', which are looked for first. A
     * regular expression over the stretch cost more than the decoding.
     */
    const nativeRun = (chunk: Uint8Array, p: number, n: number): number => {
      let end = json ? chunk.indexOf(0x22, p) : -1; // up to the end of the JSON string, if in this chunk
      if (end < 0) end = n;
      if (json && chunk[end - 1] === 0x5c) end--; // an escape split between chunks, or an escaped quote
      let text = Buffer.from(chunk.buffer, chunk.byteOffset + p, end - p).toString('latin1').replaceAll(newline, '');
      if (text.includes(carriageReturn)) text = text.replaceAll(carriageReturn, '');
      if (text.includes('-') || text.includes('_')) return refuse(p);
      const whole = text.length - (text.length % 4);
      for (let k = whole; k < text.length; k++) if (B64[text.charCodeAt(k)]! < 0) return refuse(p);
      if (out.length - o < (whole / 4) * 3 || outBuffer.write(text.slice(0, whole), o, 'base64') !== (whole / 4) * 3) return refuse(p);
      o += (whole / 4) * 3;
      for (let k = whole; k < text.length; k++) pemChar(text.charCodeAt(k));
      return end;
    };
    /** The PEM string from chunk[p]; returns where it stopped (after the closing quote, or n). */
    const signedBytes = (chunk: Uint8Array, p: number, n: number): number => {
      for (;;) {
        if (pem === BODY && have === 0 && !nativeDeclined && n - p >= 4096) p = nativeRun(chunk, p, n);
        if (pem === BODY) {
          // The fast path: base64 characters, straight into the DER.
          let q = quad;
          let h = have;
          let w = o;
          for (; p < n; p++) {
            const v = B64[chunk[p]!]!;
            if (v < 0) break;
            q = (q << 6) | v;
            if (++h === 4) {
              out[w] = q >>> 16;
              out[w + 1] = (q >>> 8) & 0xff;
              out[w + 2] = q & 0xff;
              w += 3;
              h = q = 0;
            }
          }
          quad = q;
          have = h;
          o = w;
        }
        if (p >= n) return n;
        const c = chunk[p]!;
        if (json) {
          if (c === 0x22) {
            inSigned = false;
            signedFound = true;
            return p + 1;
          }
          if (c === 0x5c) {
            const e = chunk[p + 1];
            const length = e === 0x75 ? 6 : 2;
            if (p + length > n) {
              carry = chunk.slice(p); // an escape split between chunks: read with the next one
              return n;
            }
            let code = 0;
            if (e === 0x75) {
              for (let k = 2; k < 6; k++) {
                const digit = HEX[chunk[p + k]!]!;
                if (digit < 0) fail('the answer is not JSON (a bad \\u escape)');
                code = (code << 4) | digit;
              }
            } else if (e === 0x6e) code = 0x0a;
            else if (e === 0x72) code = 0x0d;
            else if (e === 0x74) code = 0x09;
            else if (e === 0x2f || e === 0x5c || e === 0x22) code = e;
            else if (e === 0x62 || e === 0x66) code = 0x100; // backspace, form feed: never in PEM
            else fail('the answer is not JSON (a bad escape)');
            if (code >= 0x80) fail('the revocation list is not valid base64');
            pemChar(code);
            p += length;
            continue;
          }
          if (c < 0x20) fail('the answer is not JSON (a control character in a string)');
        }
        if (c >= 0x80) fail('the revocation list is not valid base64');
        pemChar(c);
        p++;
      }
    };
    const push = (input: Uint8Array): void => {
      let chunk = input;
      if (carry) {
        chunk = new Uint8Array(carry.length + input.length);
        chunk.set(carry);
        chunk.set(input, carry.length);
        carry = undefined;
      }
      let p = 0;
      const n = chunk.length;
      nativeDeclined = false;
      if (!started && n > 0) {
        started = true;
        if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) p = 3; // a BOM, as TextDecoder drops it
      }
      if (o + Math.ceil((n * 3) / 4) + 3 > out.length) {
        const grown = allocate(Math.max(out.length * 2, o + n + 16));
        grown.set(out.subarray(0, o));
        out = grown;
        outBuffer = Buffer.from(out.buffer, out.byteOffset, out.length);
      }
      while (p < n) {
        if (inSigned) {
          p = signedBytes(chunk, p, n);
          continue;
        }
        const c = chunk[p++]!;
        if (inString) {
          keep(c);
          if (escaped) escaped = false;
          else if (c === 0x5c) escaped = true;
          else if (c === 0x22) {
            inString = false;
            if (keyStart >= 0) {
              lastKey = new TextDecoder('utf-8', { fatal: true }).decode(skeleton.subarray(keyStart, kept));
              keyStart = -1;
            }
          }
          continue;
        }
        if (isSpace(c)) continue;
        if (c === 0x22) {
          if (depth === 1 && topIsObject && !expectKey && signedNext) {
            // The value of "signed": its PEM is decoded (a repeated "signed" replaces it, as in JSON.parse).
            keep(0x22);
            keep(0x22);
            restart();
            inSigned = true;
            signedNext = false;
            continue;
          }
          keep(c);
          inString = true;
          keyStart = depth === 1 && topIsObject && expectKey ? kept - 1 : -1;
          continue;
        }
        keep(c);
        signedNext = false;
        if (c === 0x7b || c === 0x5b) {
          if (++depth === 1) {
            topIsObject = c === 0x7b;
            expectKey = topIsObject;
          }
        } else if (c === 0x7d || c === 0x5d) depth--;
        else if (depth === 1 && c === 0x3a) {
          expectKey = false;
          let key: unknown;
          try {
            key = JSON.parse(lastKey);
          } catch {
            key = undefined;
          }
          signedNext = key === 'signed';
        } else if (depth === 1 && c === 0x2c) expectKey = topIsObject;
      }
    };
    const end = (): Uint8Array => {
      if (carry || inString || (json && inSigned)) fail('the answer ends early');
      if (json) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(skeleton.subarray(0, kept)));
        } catch {
          fail('the answer is not JSON');
        }
        if (!signedFound || typeof (parsed as { signed?: unknown } | null)?.signed !== 'string') fail('the answer has no "signed" revocation list');
      }
      if (pem !== TRAILER) fail('the revocation list is not PEM CMS');
      if (pads > 0 || have > 0) {
        if (have + pads !== 4) fail('the revocation list is not valid base64');
        out[o++] = (quad << (6 * pads)) >>> 16;
        if (have === 3) out[o++] = ((quad << 6) >>> 8) & 0xff;
      }
      return out.subarray(0, o);
    };
    return { push, end };
  }

  return { scanContent, tablesOf, auditKey, find, envelope };
}
