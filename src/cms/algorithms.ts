import { constants } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import type { AlgorithmId } from './signed-data.js';
import { CmsVerificationError } from '../errors.js';
import { DerError, DerReader, TAG_INTEGER, TAG_SEQUENCE, value } from './der.js';

/** Digest algorithms accepted for token signatures. MD5 and anything unknown are refused. */
const DIGESTS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
/** The OID of each accepted digest, by name. */
export const DIGEST_OIDS: Record<string, string> = Object.fromEntries(Object.entries(DIGESTS).map(([oid, name]) => [name, oid]));
const REFUSED_DIGESTS: Record<string, string> = {
  '1.2.840.113549.2.5': 'md5',
  '1.2.840.113549.2.2': 'md2',
  '1.2.840.113549.2.4': 'md4',
};

/** True for a digest algorithm OID openssl knows (accepted or refused here): what a digestAlgorithms set may name. */
export function isKnownDigest(oid: string): boolean {
  return oid in DIGESTS || oid in REFUSED_DIGESTS;
}

export const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
export const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
export const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';

/** Signature algorithm OIDs: which key type they need and, for the combined ones, which digest they name. */
const SIGNATURES: Record<string, { keyType: 'rsa' | 'ec' | 'rsa-pss'; digest?: string }> = {
  [OID_RSA_ENCRYPTION]: { keyType: 'rsa' },
  '1.2.840.113549.1.1.5': { keyType: 'rsa', digest: 'sha1' },
  '1.2.840.113549.1.1.14': { keyType: 'rsa', digest: 'sha224' },
  '1.2.840.113549.1.1.11': { keyType: 'rsa', digest: 'sha256' },
  '1.2.840.113549.1.1.12': { keyType: 'rsa', digest: 'sha384' },
  '1.2.840.113549.1.1.13': { keyType: 'rsa', digest: 'sha512' },
  [OID_RSASSA_PSS]: { keyType: 'rsa-pss' },
  [OID_EC_PUBLIC_KEY]: { keyType: 'ec' },
  '1.2.840.10045.4.1': { keyType: 'ec', digest: 'sha1' },
  '1.2.840.10045.4.3.1': { keyType: 'ec', digest: 'sha224' },
  '1.2.840.10045.4.3.2': { keyType: 'ec', digest: 'sha256' },
  '1.2.840.10045.4.3.3': { keyType: 'ec', digest: 'sha384' },
  '1.2.840.10045.4.3.4': { keyType: 'ec', digest: 'sha512' },
};

/** Name of an accepted digest algorithm, or a CmsVerificationError(ERR_UNSUPPORTED_ALGORITHM). */
export function digestName(oid: string): string {
  const name = DIGESTS[oid];
  if (name) return name;
  const refused = REFUSED_DIGESTS[oid];
  throw new CmsVerificationError(
    'ERR_UNSUPPORTED_ALGORITHM',
    refused
      ? `token is signed with the ${refused.toUpperCase()} digest, which is refused as broken; configure the identity server to sign with sha256`
      : `token uses digest algorithm ${oid}, which is not supported (sha1, sha224, sha256, sha384, sha512 are)`,
  );
}

/** How to call crypto.verify for one SignerInfo. */
export interface SignatureScheme {
  /** Digest name given to crypto.verify. */
  digest: string;
  keyType: 'rsa' | 'ec';
  padding?: number;
  saltLength?: number;
  /** A readable name, e.g. "sha256WithRSAEncryption" or "RSASSA-PSS(sha256)". */
  name: string;
}

/** Works out the verification scheme from the SignerInfo's digest and signature algorithm identifiers. */
export function signatureScheme(digestAlgorithm: AlgorithmId, signatureAlgorithm: AlgorithmId): SignatureScheme {
  const digest = digestName(digestAlgorithm.oid);
  const known = SIGNATURES[signatureAlgorithm.oid];
  if (!known) {
    throw new CmsVerificationError(
      'ERR_UNSUPPORTED_ALGORITHM',
      `token uses signature algorithm ${signatureAlgorithm.oid}, which is not supported (RSA PKCS#1 v1.5, RSASSA-PSS and ECDSA are)`,
    );
  }
  if (known.digest && known.digest !== digest) {
    throw new CmsVerificationError(
      'ERR_UNSUPPORTED_ALGORITHM',
      `token's signature algorithm names ${known.digest} but its digest algorithm is ${digest}; the two must agree`,
    );
  }
  if (known.keyType === 'ec') return { digest, keyType: 'ec', name: `ecdsa-with-${digest}` };
  if (known.keyType === 'rsa') return { digest, keyType: 'rsa', padding: constants.RSA_PKCS1_PADDING, name: `${digest}WithRSAEncryption` };
  return pssScheme(digest, signatureAlgorithm);
}

function pssScheme(digest: string, signatureAlgorithm: AlgorithmId): SignatureScheme {
  let params: RsaSaPssParams;
  let mgfDigest: string | undefined;
  if (signatureAlgorithm.parameters) checkPssIntegers(signatureAlgorithm.parameters);
  try {
    params = signatureAlgorithm.parameters
      ? AsnConvert.parse(signatureAlgorithm.parameters, RsaSaPssParams)
      : new RsaSaPssParams();
    mgfDigest = params.maskGenAlgorithm.parameters
      ? DIGESTS[AsnConvert.parse(params.maskGenAlgorithm.parameters, AlgorithmIdentifier).algorithm]
      : 'sha1';
  } catch (cause) {
    throw new CmsVerificationError('ERR_CMS_MALFORMED', 'RSASSA-PSS parameters cannot be parsed', { cause });
  }
  const pssDigest = DIGESTS[params.hashAlgorithm.algorithm];
  if (pssDigest !== digest || mgfDigest !== digest || params.maskGenAlgorithm.algorithm !== '1.2.840.113549.1.1.8') {
    throw new CmsVerificationError(
      'ERR_UNSUPPORTED_ALGORITHM',
      `RSASSA-PSS with hash ${pssDigest ?? params.hashAlgorithm.algorithm} and MGF1 ${mgfDigest ?? 'unknown'} under digest ${digest} is not supported; hash, MGF1 hash and digest must be the same`,
    );
  }
  return {
    digest,
    keyType: 'rsa',
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: params.saltLength,
    name: `RSASSA-PSS(${digest}, salt ${params.saltLength})`,
  };
}

/**
 * saltLength [2] and trailerField [3] of RSASSA-PSS parameters as OpenSSL decides them: minimally encoded
 * INTEGERs (its decoder refuses padding), a salt length that is not negative (node:crypto would read -1 and -2
 * as "the digest length" and "the maximum"), and a trailerField of 1, the only one defined.
 */
function checkPssIntegers(parameters: Uint8Array): void {
  const malformed = (why: string) => new CmsVerificationError('ERR_CMS_MALFORMED', `RSASSA-PSS parameters: ${why}`);
  try {
    const outer = new DerReader(parameters);
    const fields = DerReader.inside(parameters, outer.expect(TAG_SEQUENCE, 'RSASSA-PSS-params'));
    outer.end('RSASSA-PSS-params');
    while (!fields.done) {
      const field = fields.next();
      if (field.tag !== 0xa2 && field.tag !== 0xa3) continue;
      const name = field.tag === 0xa2 ? 'saltLength' : 'trailerField';
      const inner = DerReader.inside(parameters, field);
      const integer = value(parameters, inner.expect(TAG_INTEGER, name));
      inner.end(name);
      if (integer.length === 0 || (integer.length > 1 && ((integer[0] === 0 && integer[1]! < 0x80) || (integer[0] === 0xff && integer[1]! >= 0x80)))) {
        throw malformed(`${name} is not a minimally encoded INTEGER`);
      }
      if (integer[0]! & 0x80) throw malformed(`${name} is negative`);
      if (field.tag === 0xa3 && !(integer.length === 1 && integer[0] === 1)) throw malformed('trailerField is not 1 (trailerFieldBC)');
    }
  } catch (cause) {
    if (cause instanceof DerError) throw new CmsVerificationError('ERR_CMS_MALFORMED', 'RSASSA-PSS parameters cannot be parsed', { cause });
    throw cause;
  }
}
