import { createCipheriv, createHmac, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

/**
 * Online token ids shaped as today's Keystone writes them, so that tests (and `inspect`) meet the real shapes.
 * The kit's identity server keeps each token's body and answers `GET /v3/auth/tokens` for it; nothing here is
 * meant to be read by the middleware, which validates every online token with the identity server.
 */

/** What goes into a Fernet or JWS token id: the fields Keystone packs (the rest lives on the server). */
export interface OnlineTokenClaims {
  userId: string;
  /** Auth methods, as names (Keystone packs them as a bit mask). Default ['password']. */
  methods?: string[];
  projectId?: string;
  domainId?: string;
  /** 'all' for a system-scoped token. */
  system?: string;
  expiresAt: Date;
  issuedAt?: Date;
  auditIds: string[];
}

/** Keystone's [auth] methods default order: a method's bit is 2^(its index). */
const METHODS = ['external', 'password', 'token', 'oauth1', 'mapped', 'application_credential'];

/** A Python float: msgpack writes it as float64 even when it is whole. */
class Float64 {
  constructor(readonly value: number) {}
}

/** The subset of msgpack that Keystone's payloads use: arrays, booleans, small ints, float64, bytes, str. */
function msgpack(value: unknown): Buffer {
  if (value === true) return Buffer.from([0xc3]);
  if (value === false) return Buffer.from([0xc2]);
  if (value === null) return Buffer.from([0xc0]);
  if (value instanceof Float64) {
    const bytes = Buffer.alloc(9);
    bytes[0] = 0xcb;
    bytes.writeDoubleBE(value.value, 1);
    return bytes;
  }
  if (Buffer.isBuffer(value)) return Buffer.concat([value.length < 256 ? Buffer.from([0xc4, value.length]) : Buffer.from([0xc5, value.length >> 8, value.length & 0xff]), value]);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    const head = bytes.length < 32 ? Buffer.from([0xa0 | bytes.length]) : bytes.length < 256 ? Buffer.from([0xd9, bytes.length]) : Buffer.from([0xda, bytes.length >> 8, bytes.length & 0xff]);
    return Buffer.concat([head, bytes]);
  }
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 128) return Buffer.from([value]);
  if (Array.isArray(value) && value.length < 16) return Buffer.concat([Buffer.from([0x90 | value.length]), ...value.map(msgpack)]);
  throw new TypeError(`cannot pack ${typeof value}`);
}

/** Keystone's attempt_convert_uuid_hex_to_bytes: (True, 16 bytes) for a UUID hex id, else (False, the id). */
function packedId(id: string): [boolean, Buffer | string] {
  return /^[0-9a-f]{32}$/i.test(id) ? [true, Buffer.from(id, 'hex')] : [false, id];
}

/**
 * A Fernet token as keystone/token/token_formatters.py writes one: the msgpack payload (project-scoped version 2,
 * domain-scoped 1, system-scoped 8, unscoped 0) encrypted with the Fernet spec (version byte 0x80, 64-bit
 * timestamp, 128-bit IV, AES-128-CBC, HMAC-SHA256), urlsafe base64 with its padding stripped.
 */
export function fernetToken(claims: OnlineTokenClaims, key: Buffer): string {
  if (key.length !== 32) throw new RangeError('a Fernet key is 32 bytes (16 for signing, 16 for encryption)');
  const methods = (claims.methods ?? ['password']).reduce((mask, name) => mask | (1 << Math.max(0, METHODS.indexOf(name))), 0);
  const expires = new Float64(claims.expiresAt.getTime() / 1000);
  const audits = claims.auditIds.map((id) => Buffer.from(id, 'base64url'));
  const user = packedId(claims.userId);
  let payload: unknown[];
  if (claims.system) payload = [8, user, methods, claims.system, expires, audits];
  else if (claims.projectId) payload = [2, user, methods, packedId(claims.projectId), expires, audits];
  else if (claims.domainId) payload = [1, user, methods, /^[0-9a-f]{32}$/i.test(claims.domainId) ? Buffer.from(claims.domainId, 'hex') : claims.domainId, expires, audits];
  else payload = [0, user, methods, expires, audits];
  const plaintext = msgpack(payload);
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-128-cbc', key.subarray(16), iv);
  const header = Buffer.alloc(9);
  header[0] = 0x80;
  header.writeBigUInt64BE(BigInt(Math.floor((claims.issuedAt ?? new Date()).getTime() / 1000)), 1);
  const signed = Buffer.concat([header, iv, cipher.update(plaintext), cipher.final()]);
  const hmac = createHmac('sha256', key.subarray(0, 16)).update(signed).digest();
  return Buffer.concat([signed, hmac]).toString('base64url');
}

/** A new key pair for ES256 JWS tokens (what `keystone-manage create_jws_keypair` makes: P-256). */
export function jwsKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/**
 * A JWS token as keystone/token/providers/jws/core.py writes one with PyJWT: header {"alg":"ES256","typ":"JWT"},
 * claims sub, iat, exp and the openstack_* private claims (those without a value left out), compact
 * serialisation, ECDSA P-256 signature (r || s).
 */
export function jwsToken(claims: OnlineTokenClaims, privateKey: KeyObject): string {
  const payload: Record<string, unknown> = {
    sub: claims.userId,
    iat: Math.floor((claims.issuedAt ?? new Date()).getTime() / 1000),
    exp: Math.floor(claims.expiresAt.getTime() / 1000),
    openstack_methods: claims.methods ?? ['password'],
    openstack_audit_ids: claims.auditIds,
    openstack_system: claims.system,
    openstack_domain_id: claims.projectId || claims.system ? undefined : claims.domainId,
    openstack_project_id: claims.projectId,
  };
  for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name];
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
  const input = `${encode({ alg: 'ES256', typ: 'JWT' })}.${encode(payload)}`;
  const signature = sign('sha256', Buffer.from(input, 'ascii'), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}
