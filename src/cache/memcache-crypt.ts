import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * keystonemiddleware's _memcache_crypt, byte for byte: HMAC-SHA384(secret, tokenId + strategy) split in three
 * 16-byte keys (cache key, MAC key, encryption key); values are base64(AES-128-CBC(iv + ciphertext)) for
 * ENCRYPT or base64(data) for MAC, prefixed with base64(HMAC-SHA384(macKey, that base64)); the MAC is
 * compared in constant time.
 */
export type SecurityStrategy = 'MAC' | 'ENCRYPT';

export interface DerivedKeys {
  cacheKey: Buffer;
  mac: Buffer;
  encryption: Buffer;
  strategy: SecurityStrategy;
}

const DIGEST_LENGTH = 48; // SHA-384
const DIGEST_LENGTH_B64 = 4 * Math.ceil(DIGEST_LENGTH / 3); // 64

export class CacheIntegrityError extends Error {}

export function deriveKeys(tokenId: string, secret: string, strategy: SecurityStrategy): DerivedKeys {
  const digest = createHmac('sha384', Buffer.from(secret, 'utf8')).update(Buffer.from(tokenId + strategy, 'utf8')).digest();
  return { cacheKey: digest.subarray(0, 16), mac: digest.subarray(16, 32), encryption: digest.subarray(32, 48), strategy };
}

/** The memcached key part: base64 of the derived cache key. */
export function protectedCacheKey(keys: DerivedKeys): string {
  return keys.cacheKey.toString('base64');
}

function sign(key: Buffer, data: Buffer): Buffer {
  return Buffer.from(createHmac('sha384', key).update(data).digest('base64'), 'ascii');
}

export function protect(keys: DerivedKeys, data: Buffer, iv: Buffer = randomBytes(16)): Buffer {
  let payload = data;
  if (keys.strategy === 'ENCRYPT') {
    const cipher = createCipheriv('aes-128-cbc', keys.encryption, iv);
    payload = Buffer.concat([iv, cipher.update(data), cipher.final()]);
  }
  const encoded = Buffer.from(payload.toString('base64'), 'ascii');
  return Buffer.concat([sign(keys.mac, encoded), encoded]);
}

/** The original data, or CacheIntegrityError when the MAC does not match or decryption fails. */
export function unprotect(keys: DerivedKeys, stored: Buffer): Buffer {
  const provided = stored.subarray(0, DIGEST_LENGTH_B64);
  const encoded = stored.subarray(DIGEST_LENGTH_B64);
  const expected = sign(keys.mac, encoded);
  if (provided.length !== expected.length || !timingSafeEqual(provided, expected)) throw new CacheIntegrityError('invalid MAC: the entry was altered or written with another secret');
  const data = Buffer.from(encoded.toString('ascii'), 'base64');
  if (keys.strategy !== 'ENCRYPT') return data;
  try {
    const decipher = createDecipheriv('aes-128-cbc', keys.encryption, data.subarray(0, 16));
    return Buffer.concat([decipher.update(data.subarray(16)), decipher.final()]);
  } catch (cause) {
    throw new CacheIntegrityError(`cannot decrypt the entry (${(cause as Error).message})`);
  }
}
