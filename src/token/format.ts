import { inflateSync } from 'node:zlib';
import pako from 'pako';
import { TokenFormatError } from '../errors.js';

/** How a token is validated: PKI and PKIZ in-process, anything else online against the identity server. */
export type TokenFormat = 'pki' | 'pkiz' | 'online';

export const PKI_PREFIX = 'MII';
export const PKIZ_PREFIX = 'PKIZ_';

/** Limits applied before and during decoding. */
export interface DecodeLimits {
  /** Longest token accepted, in characters, checked before any decoding. Default 64 KiB. */
  maxTokenLength?: number;
  /** Largest inflated PKIZ message, in bytes. Default 1 MiB. */
  maxInflatedBytes?: number;
}

export const DEFAULT_MAX_TOKEN_LENGTH = 64 * 1024;
export const DEFAULT_MAX_INFLATED_BYTES = 1024 * 1024;

/**
 * How many times its compressed size a PKIZ token may inflate to (plus INFLATION_SLACK_BYTES). keystoneclient
 * compresses the PEM (base64) text of a JSON body: 1.3 to 2.7 times for ordinary tokens, about 11 for a catalog
 * of 200 near-identical services. A bound relative to the token keeps the work of decoding (inflate, base64,
 * hashing the content) proportional to what the client sent: a 10 KB token can no longer inflate to 1 MiB.
 */
export const MAX_INFLATION_RATIO = 32;
const INFLATION_SLACK_BYTES = 4096;

/** Classifies a token as keystoneclient does (`is_asn1_token`, `is_pkiz`). */
export function classifyToken(token: string): TokenFormat {
  if (token.startsWith(PKIZ_PREFIX)) return 'pkiz';
  if (token.startsWith(PKI_PREFIX)) return 'pki';
  return 'online';
}

/**
 * Strict, canonical base64: the text must be exactly what encoding the decoded bytes gives back (padding
 * optional, but if present, exact). Node's decoder alone skips stray characters and ignores the unused low
 * bits of the last character; accepting such variants would let one token travel under many strings, each
 * with its own hash, and so slip past a revocation list that names the token by the hash of its string.
 */
export function decodeBase64(text: string, encoding: 'base64' | 'base64url', what: string, padding: 'optional' | 'required' = 'optional'): Buffer {
  if (padding === 'required' && text.length % 4 !== 0) {
    throw new TokenFormatError('ERR_TOKEN_MALFORMED', `${what} is not valid base64: its padding ("=") is missing, and keystoneclient refuses it so`);
  }
  const bytes = isCanonicalShape(text, encoding) ? Buffer.from(text, encoding) : undefined;
  // Every character Node's decoder skips (or stops at) makes the output shorter than the length implies.
  if (!bytes || bytes.length === 0 || bytes.length !== Math.floor((unpaddedLength(text) * 3) / 4)) {
    throw new TokenFormatError('ERR_TOKEN_MALFORMED', `${what} is not valid (canonical) base64`);
  }
  return bytes;
}

/** Base64 digit values (both alphabets: Node's decoders accept either). */
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) DIGIT['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;
DIGIT[0x2d] = 62; // '-'
DIGIT[0x5f] = 63; // '_'

/**
 * What re-encoding would catch, checked without re-encoding: no character of the other alphabet (Node decodes
 * both), a length that a whole number of bytes gives, and zero unused bits in the last character.
 */
function isCanonicalShape(text: string, encoding: 'base64' | 'base64url'): boolean {
  const n = unpaddedLength(text);
  if (n === 0 || n % 4 === 1) return false;
  if (n !== text.length && text.length % 4 !== 0) return false; // padding: none, or exactly to a multiple of 4
  if (encoding === 'base64' ? text.includes('-') || text.includes('_') : text.includes('+') || text.includes('/')) return false;
  const last = DIGIT[text.charCodeAt(n - 1)] ?? -1;
  if (last < 0) return false;
  return n % 4 === 2 ? (last & 0x0f) === 0 : n % 4 === 3 ? (last & 0x03) === 0 : true;
}

function unpaddedLength(text: string): number {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x3d) end--;
  return end;
}

/** The PKI form of a DER message, as keystoneclient's cms_to_token writes it. */
export function derToPkiToken(der: Uint8Array): string {
  return Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64').replace(/\//g, '-');
}

/**
 * The PKIZ form of a DER message, as keystoneclient's pkiz_sign writes it: 'PKIZ_' + urlsafe base64 (padded)
 * of zlib.compress(<PEM text>, 6). pako is a port of zlib 1.2.x and compresses byte for byte as the zlib that
 * Python (and so every PKI-era Keystone) links; node:zlib (Chromium's zlib 1.3) writes other bytes.
 */
export function derToPkizToken(der: Uint8Array): string {
  return 'PKIZ_' + Buffer.from(pako.deflate(cmsPem(der), { level: 6 })).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

const PEM_HEADER = /^-----BEGIN (CMS|PKCS7)-----/;
const PEM_BODY = /[^A-Za-z0-9+/=\s]/;

/** PEM CMS without a regex over the whole text (revocation lists run to megabytes). */
function decodePem(text: string): Uint8Array {
  const header = PEM_HEADER.exec(text);
  const footer = header ? text.lastIndexOf(`-----END ${header[1]}-----`) : -1;
  if (!header || footer < header[0].length || text.slice(footer).trim() !== `-----END ${header[1]}-----`) {
    throw new TokenFormatError('ERR_TOKEN_MALFORMED', 'PEM message is not a "-----BEGIN CMS-----" ... "-----END CMS-----" block');
  }
  const body = text.slice(header[0].length, footer);
  // Node's decoder skips the line breaks; anything else outside the alphabet is refused first (small bodies),
  // and a damaged large body cannot pass the signature check anyway.
  if (body.length < 64 * 1024 && PEM_BODY.test(body)) throw new TokenFormatError('ERR_TOKEN_MALFORMED', 'PEM CMS body is not valid base64');
  const bytes = Buffer.from(body, 'base64');
  if (bytes.length === 0) throw new TokenFormatError('ERR_TOKEN_MALFORMED', 'PEM CMS body is empty');
  return bytes;
}

/**
 * The PEM text `openssl cms -sign -outform PEM` writes for a DER message: what keystoneclient's cms_sign_data
 * returns, and what a PKIZ token compresses.
 */
export function cmsPem(der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let lines = '';
  for (let i = 0; i < b64.length; i += 64) lines += b64.slice(i, i + 64) + '\n';
  return `-----BEGIN CMS-----\n${lines}-----END CMS-----\n`;
}

/** The inside of a PKIZ token: the zlib-compressed PEM text of the CMS message (keystoneclient's pkiz_sign). */
export interface PkizAnatomy {
  /** Bytes of the zlib stream. */
  compressedBytes: number;
  /** The compression level the zlib header declares (FLEVEL: 0 fastest, 1 fast, 2 default, 3 best). */
  zlibLevelClass: number;
  /** The inflated PEM text. */
  pem: string;
  der: Uint8Array;
}

/**
 * Decodes a PKIZ token as keystoneclient's pkiz_verify reads it: 'PKIZ_' + urlsafe base64 (padded) of
 * zlib.compress(<PEM text of the CMS>). Stricter than keystoneclient, so that one signed message travels under
 * as few strings as possible: canonical base64, nothing after the zlib stream, and the PEM exactly as openssl
 * writes it (64-character lines, LF, "CMS" labels, nothing before or after).
 */
export function decodePkiz(token: string, limits: DecodeLimits = {}): PkizAnatomy {
  const compressed = decodeBase64(token.slice(PKIZ_PREFIX.length), 'base64url', 'PKIZ token', 'required');
  const absolute = limits.maxInflatedBytes ?? DEFAULT_MAX_INFLATED_BYTES;
  const relative = MAX_INFLATION_RATIO * compressed.length + INFLATION_SLACK_BYTES;
  let bounded: Uint8Array;
  try {
    bounded = inflateBounded(compressed, Math.min(absolute, relative));
  } catch (error) {
    if (relative < absolute && error instanceof TokenFormatError && error.code === 'ERR_PKIZ_TOO_LARGE') {
      throw new TokenFormatError(
        'ERR_PKIZ_TOO_LARGE',
        `PKIZ token inflates to more than ${MAX_INFLATION_RATIO} times its ${compressed.length} compressed bytes; Keystone's tokens inflate 1.3 to 11 times: refused as a zlib bomb`,
      );
    }
    throw error;
  }
  const inflated = Buffer.isBuffer(bounded) ? bounded : Buffer.from(bounded.buffer, bounded.byteOffset, bounded.byteLength);
  if (inflated.length < PEM_HEAD.length || inflated.compare(PEM_HEAD, 0, PEM_HEAD.length, 0, PEM_HEAD.length) !== 0) {
    const hint = inflated[0] === 0x30 ? ' (it holds DER: keystoneclient compresses the PEM text, never DER)' : '';
    throw new TokenFormatError('ERR_PKIZ_CORRUPT', `PKIZ token does not inflate to PEM CMS text${hint}`);
  }
  return new DecodedPkiz(compressed, inflated, canonicalPemToDer(inflated));
}

/** A class, not an object literal with a getter: an accessor in a literal makes every decoding slower (~1 µs). */
class DecodedPkiz implements PkizAnatomy {
  readonly compressedBytes: number;
  readonly zlibLevelClass: number;

  constructor(
    compressed: Uint8Array,
    private readonly inflated: Buffer,
    readonly der: Uint8Array,
  ) {
    this.compressedBytes = compressed.length;
    this.zlibLevelClass = compressed.length > 1 ? compressed[1]! >> 6 : -1;
  }

  get pem(): string {
    return this.inflated.toString('latin1');
  }
}

const PEM_HEAD = Buffer.from('-----BEGIN CMS-----\n', 'latin1');
const PEM_TAIL = Buffer.from('-----END CMS-----\n', 'latin1');

/**
 * The DER of PEM text laid out exactly as openssl writes it (what cmsPem returns), or ERR_TOKEN_MALFORMED: the
 * header and footer lines, 64-character lines ending in LF, canonical standard base64. Checked on the bytes
 * with native scans (line ends at fixed offsets, no "-" or "_", the decoded length the characters imply, the
 * last quantum's unused bits), without re-encoding: the same verdict as `cmsPem(der) === text`, cheaper.
 */
function canonicalPemToDer(pem: Buffer): Buffer {
  const malformed = () => new TokenFormatError('ERR_TOKEN_MALFORMED', 'PKIZ token inflates to PEM that is not laid out as openssl writes it (64-character lines, LF, nothing around the block)');
  const start = PEM_HEAD.length;
  const end = pem.length - PEM_TAIL.length;
  if (end <= start + 1 || pem.compare(PEM_TAIL, 0, PEM_TAIL.length, end) !== 0 || pem[end - 1] !== 0x0a) throw malformed();
  const span = end - start; // body characters and their line ends
  const full = Math.floor(span / 65);
  const rest = span % 65; // the last, shorter line with its LF (0 when the last line is full)
  if (rest === 1) throw malformed();
  for (let i = 0; i < full; i++) if (pem[start + i * 65 + 64] !== 0x0a) throw malformed();
  const lines = full + (rest > 0 ? 1 : 0);
  const characters = span - lines;
  const minus = pem.indexOf(0x2d, start); // the urlsafe alphabet, which Node's base64 decoder also reads
  const underscore = pem.indexOf(0x5f, start);
  if ((minus !== -1 && minus < end) || (underscore !== -1 && underscore < end) || characters % 4 !== 0) throw malformed();
  const lastLine = pem.toString('latin1', end - 1 - (rest > 0 ? rest - 1 : 64), end - 1);
  if (!isCanonicalShape(lastLine.slice(-4), 'base64')) throw malformed();
  const padding = lastLine.endsWith('==') ? 2 : lastLine.endsWith('=') ? 1 : 0;
  const der = Buffer.from(pem.toString('latin1', start, end), 'base64'); // line ends skipped
  // Any other character (space, CR, "=" inside, a non-base64 byte) is skipped or stops the decoder: shorter output.
  if (der.length !== (characters / 4) * 3 - padding || der.length === 0) throw malformed();
  return der;
}

/**
 * Turns a token (PKI, PKIZ, or PEM CMS such as the revocation list) into the DER of its CMS ContentInfo.
 * Throws TokenFormatError (ERR_TOKEN_TOO_LONG, ERR_TOKEN_MALFORMED, ERR_PKIZ_CORRUPT, ERR_PKIZ_TOO_LARGE).
 */
export function tokenToDer(token: string | Uint8Array, limits: DecodeLimits = {}): Uint8Array {
  if (typeof token !== 'string') {
    // Already binary: DER as is, or the bytes of a textual token.
    if (token.length > 0 && token[0] === 0x30) return token;
    token = Buffer.from(token.buffer, token.byteOffset, token.byteLength).toString('latin1');
  }
  const maxLength = limits.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
  if (token.length > maxLength) {
    throw new TokenFormatError(
      'ERR_TOKEN_TOO_LONG',
      `token is ${token.length} characters long, over the limit of ${maxLength} (option maxTokenLength)`,
    );
  }
  const trimmed = token.trim();
  if (trimmed.startsWith('-----BEGIN')) return decodePem(trimmed);
  switch (classifyToken(trimmed)) {
    case 'pki':
      // keystoneclient writes "/" as "-": a "/" in a PKI token is the same token under another string.
      if (trimmed.includes('/')) throw new TokenFormatError('ERR_TOKEN_MALFORMED', 'PKI token is not valid (canonical) base64: it contains "/", written "-" in PKI tokens');
      return decodeBase64(trimmed.replace(/-/g, '/'), 'base64', 'PKI token', 'required');
    case 'pkiz':
      return decodePkiz(trimmed, limits).der;
    default:
      throw new TokenFormatError(
        'ERR_TOKEN_MALFORMED',
        'token is neither PKI (starts with "MII") nor PKIZ (starts with "PKIZ_"); it must be validated online',
      );
  }
}

/**
 * zlib inflate that stops at `limit` output bytes: a zlib bomb costs at most `limit` bytes of memory. Bytes
 * after the end of the zlib stream are refused (zlib.decompress ignores them; they would give one token many
 * strings).
 */
export function inflateBounded(compressed: Uint8Array, limit: number): Uint8Array {
  let result: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    result = inflateSync(compressed, { maxOutputLength: limit, info: true }) as unknown as typeof result;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) {
      throw new TokenFormatError(
        'ERR_PKIZ_TOO_LARGE',
        `PKIZ token inflates to more than ${limit} bytes (option maxInflatedBytes); refused as a possible zlib bomb`,
      );
    }
    throw new TokenFormatError('ERR_PKIZ_CORRUPT', `PKIZ token is not valid zlib data (${code ?? 'inflate failed'})`);
  }
  if (result.engine.bytesWritten !== compressed.length) {
    throw new TokenFormatError('ERR_PKIZ_CORRUPT', `PKIZ token has ${compressed.length - result.engine.bytesWritten} bytes after the end of its zlib stream`);
  }
  return result.buffer;
}
