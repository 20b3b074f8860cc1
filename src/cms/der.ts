/**
 * A small, strict DER reader for the hot path: it walks a buffer without copying and without building an
 * object tree. Only definite lengths and single-byte tags, which is all DER CMS and X.509 use.
 * Every malformation throws DerError; callers turn it into their own typed error.
 */
export class DerError extends Error {}

export const TAG_INTEGER = 0x02;
export const TAG_OCTET_STRING = 0x04;
export const TAG_OID = 0x06;
export const TAG_SEQUENCE = 0x30;
export const TAG_SET = 0x31;
export const TAG_CONTEXT_0 = 0xa0; // [0] constructed
export const TAG_CONTEXT_1 = 0xa1; // [1] constructed
export const TAG_CONTEXT_0_PRIMITIVE = 0x80; // [0] primitive

/** One element: `bytes.subarray(start, end)` is the whole TLV, `value` its contents. */
export interface Tlv {
  tag: number;
  start: number;
  valueStart: number;
  end: number;
}

export class DerReader {
  private position: number;
  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    private readonly limit = bytes.length,
  ) {
    this.position = start;
  }

  /** A reader over the contents of a constructed element. */
  static inside(bytes: Uint8Array, tlv: Tlv): DerReader {
    return new DerReader(bytes, tlv.valueStart, tlv.end);
  }

  get done(): boolean {
    return this.position >= this.limit;
  }

  peekTag(): number | undefined {
    return this.done ? undefined : this.bytes[this.position];
  }

  next(): Tlv {
    const bytes = this.bytes;
    const start = this.position;
    if (start + 2 > this.limit) throw new DerError('truncated element');
    const tag = bytes[start]!;
    if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used in CMS');
    let length = bytes[start + 1]!;
    let valueStart = start + 2;
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0) throw new DerError('indefinite length is not DER');
      if (count > 4) throw new DerError('length too large');
      if (valueStart + count > this.limit) throw new DerError('truncated length');
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + bytes[valueStart + i]!;
      valueStart += count;
    }
    const end = valueStart + length;
    if (end > this.limit) throw new DerError('element runs past its container');
    this.position = end;
    return { tag, start, valueStart, end };
  }

  expect(tag: number, what: string): Tlv {
    const tlv = this.next();
    if (tlv.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${tlv.tag.toString(16)}`);
    return tlv;
  }

  /** Reads the next element if it has `tag`. */
  optional(tag: number): Tlv | undefined {
    return this.peekTag() === tag ? this.next() : undefined;
  }

  end(what: string): void {
    if (!this.done) throw new DerError(`${what}: unexpected trailing data`);
  }
}

export function value(bytes: Uint8Array, tlv: Tlv): Uint8Array {
  return bytes.subarray(tlv.valueStart, tlv.end);
}

export function whole(bytes: Uint8Array, tlv: Tlv): Uint8Array {
  return bytes.subarray(tlv.start, tlv.end);
}

const oidCache = new Map<string, string>();

/** Dotted form of an OBJECT IDENTIFIER's contents (memoised for the short ones every message repeats). */
export function decodeOid(contents: Uint8Array): string {
  // The cache key built in JavaScript: a Buffer and a native latin1 slice per OID cost more than the OID's bytes.
  let key: string | undefined;
  if (contents.length <= 16) {
    key = '';
    for (let i = 0; i < contents.length; i++) key += String.fromCharCode(contents[i]!);
    const cached = oidCache.get(key);
    if (cached) return cached;
  }
  if (contents.length === 0) throw new DerError('empty OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let arc = 0;
  for (let i = 0; i < contents.length; i++) {
    const byte = contents[i]!;
    arc = arc * 128 + (byte & 0x7f);
    if (arc > Number.MAX_SAFE_INTEGER / 256) throw new DerError('OBJECT IDENTIFIER arc too large');
    if (!(byte & 0x80)) {
      if (arcs.length === 0) arcs.push(arc < 80 ? Math.floor(arc / 40) : 2, arc < 80 ? arc % 40 : arc - 80);
      else arcs.push(arc);
      arc = 0;
    } else if (i === contents.length - 1) throw new DerError('truncated OBJECT IDENTIFIER');
  }
  const dotted = arcs.join('.');
  if (key !== undefined && oidCache.size < 256) oidCache.set(key, dotted);
  return dotted;
}

/** Encodes a TLV with a definite DER length. */
export function encodeTlv(tag: number, contents: Uint8Array): Buffer {
  const length = contents.length;
  let header: number[];
  if (length < 0x80) header = [tag, length];
  else {
    const octets: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest & 0xff);
    header = [tag, 0x80 | octets.length, ...octets];
  }
  return Buffer.concat([Buffer.from(header), contents]);
}

const encodedOids = new Map<string, Buffer>();

/** Encodes a dotted OBJECT IDENTIFIER (the whole TLV). */
export function encodeOid(dotted: string): Buffer {
  let encoded = encodedOids.get(dotted);
  if (!encoded) {
    encoded = encodeOidUncached(dotted);
    if (encodedOids.size < 256) encodedOids.set(dotted, encoded);
  }
  return encoded;
}

function encodeOidUncached(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const bytes: number[] = [];
  const push = (arc: number) => {
    const chunk = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) chunk.unshift(0x80 | (rest & 0x7f));
    bytes.push(...chunk);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const arc of arcs.slice(2)) push(arc);
  return encodeTlv(TAG_OID, Buffer.from(bytes));
}

/** Encodes a non-negative INTEGER given as big-endian bytes (the whole TLV, minimal, sign bit respected). */
export function encodeUnsignedInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = Buffer.from(bytes.subarray(start));
  return encodeTlv(TAG_INTEGER, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export function sequence(...elements: Uint8Array[]): Buffer {
  return encodeTlv(TAG_SEQUENCE, Buffer.concat(elements));
}

export function set(...elements: Uint8Array[]): Buffer {
  return encodeTlv(TAG_SET, Buffer.concat(elements));
}
