import { constants, createHash, createVerify, publicDecrypt, timingSafeEqual, verify, type VerifyKeyObjectInput } from 'node:crypto';
import { CmsVerificationError } from '../errors.js';
import { signatureScheme, type SignatureScheme } from './algorithms.js';
import type { ParsedCertificate } from './certificate.js';
import { DerError, DerReader, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE, TAG_SET, decodeOid, encodeTlv, value } from './der.js';
import { CMS_LIMITS, OID_DATA, type SignerInfo } from './signed-data.js';

const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';

/** True when the SignerInfo's sid (issuerAndSerialNumber or subjectKeyIdentifier) names `certificate`. */
export function signerMatches(signerInfo: SignerInfo, certificate: ParsedCertificate): boolean {
  const sid = signerInfo.sid;
  if ('serial' in sid) return certificate.serialDer.equals(sid.serial) && certificate.issuerDer.equals(sid.issuer);
  return certificate.subjectKeyId !== undefined && certificate.subjectKeyId.equals(sid.subjectKeyId);
}

/** How a SignerInfo names its signer, for messages. */
export function describeSid(signerInfo: SignerInfo): string {
  const sid = signerInfo.sid;
  if ('serial' in sid) return `serial ${Buffer.from(sid.serial).toString('hex').replace(/^0+(?=.)/, '').toUpperCase()}`;
  return `subjectKeyIdentifier ${Buffer.from(sid.subjectKeyId).toString('hex')}`;
}

interface PreparedCheck {
  scheme: SignatureScheme;
  signed: Uint8Array;
  key: VerifyKeyObjectInput;
  signature: Uint8Array;
  signer: ParsedCertificate;
}

function prepare(signerInfo: SignerInfo, content: Uint8Array, signer: ParsedCertificate, contentDigest?: Uint8Array): PreparedCheck {
  const scheme = signatureScheme(signerInfo.digestAlgorithm, signerInfo.signatureAlgorithm);
  const keyType = signer.publicKey.asymmetricKeyType;
  const keyMatches = scheme.keyType === 'ec' ? keyType === 'ec' : keyType === 'rsa' || keyType === 'rsa-pss';
  if (!keyMatches) {
    throw new CmsVerificationError(
      'ERR_SIGNATURE_INVALID',
      `token is signed with ${scheme.name} but the signing certificate ${signer.subject} holds a ${keyType} key`,
    );
  }
  const signed = signerInfo.signedAttributes ? signedAttributesInput(signerInfo.signedAttributes, content, scheme.digest, contentDigest) : content;
  const key = { key: signer.publicKey, padding: scheme.padding, saltLength: scheme.saltLength, dsaEncoding: 'der' as const };
  return { scheme, signed, key, signature: signerInfo.signature, signer };
}

function conclude(check: PreparedCheck, valid: boolean): SignatureScheme {
  if (!valid) {
    const ownKey = check.scheme.padding === constants.RSA_PKCS1_PADDING && madeByThisRsaKey(check);
    const error = new CmsVerificationError(
      'ERR_SIGNATURE_INVALID',
      ownKey
        ? `token signature (${check.scheme.name}) was made with the key of ${check.signer.subject} over other bytes: the token was altered`
        : `token signature (${check.scheme.name}) does not verify with the key of ${check.signer.subject}: the token was altered, forged, or signed by another key under the same issuer and serial`,
    );
    error.otherKeyPossible = !ownKey;
    throw error;
  }
  return check.scheme;
}

/**
 * True when the RSA public operation on the signature gives a well-formed PKCS#1 v1.5 block (00 01 FF…FF 00 …):
 * then this key made the signature, over other bytes than the message now has. A signature made with any
 * other key gives random bytes here (a valid-looking block has a chance of about 2^-80).
 */
function madeByThisRsaKey(check: PreparedCheck): boolean {
  try {
    const block = publicDecrypt({ key: check.signer.publicKey, padding: constants.RSA_NO_PADDING }, check.signature);
    if (block[0] !== 0x00 || block[1] !== 0x01) return false;
    let i = 2;
    while (i < block.length && block[i] === 0xff) i++;
    return i >= 10 && i < block.length && block[i] === 0x00;
  } catch {
    return false;
  }
}

/**
 * Verifies one SignerInfo over `content` with the signer's public key (node:crypto, native code).
 * Without signed attributes (Keystone's -noattr) the signature covers the content; with them, contentType
 * and messageDigest must match and the signature covers the DER of the attribute SET.
 */
export function verifySignerInfo(signerInfo: SignerInfo, content: Uint8Array, signer: ParsedCertificate): SignatureScheme {
  const check = prepare(signerInfo, content, signer);
  let valid: boolean;
  try {
    valid = verify(check.scheme.digest, check.signed, check.key, check.signature);
  } catch {
    valid = false; // a malformed signature value (bad ECDSA DER, wrong length) is a wrong signature
  }
  return conclude(check, valid);
}

/** Above this size, the content is hashed a slice at a time, with the event loop let run between slices. */
const SLICE_BYTES = 1024 * 1024;

/**
 * As verifySignerInfo, for contents of any size (a revocation list of 1,000,000 entries is 120 MB) without
 * stalling the event loop: a small content is checked on libuv's thread pool; a large one is hashed a slice at
 * a time (node's thread-pool jobs copy their input first, and copying 120 MB is itself a 50 ms stall).
 */
export async function verifySignerInfoAsync(signerInfo: SignerInfo, content: Uint8Array, signer: ParsedCertificate): Promise<SignatureScheme> {
  if (content.length <= SLICE_BYTES) return onThreadPool(prepare(signerInfo, content, signer));
  const scheme = signatureScheme(signerInfo.digestAlgorithm, signerInfo.signatureAlgorithm);
  if (signerInfo.signedAttributes) {
    // The signature covers the attributes (a few hundred bytes); only the messageDigest needs the content.
    const digest = (await inSlices(createHash(scheme.digest), content)).digest();
    return onThreadPool(prepare(signerInfo, content, signer, digest));
  }
  const check = prepare(signerInfo, content, signer); // keystoneclient signs lists with -noattr: over the content
  const verifier = await inSlices(createVerify(scheme.digest), content);
  let valid: boolean;
  try {
    valid = verifier.verify(check.key, Buffer.from(check.signature));
  } catch {
    valid = false;
  }
  return conclude(check, valid);
}

async function inSlices<T extends { update(data: Uint8Array): unknown }>(target: T, content: Uint8Array): Promise<T> {
  for (let offset = 0; offset < content.length; offset += SLICE_BYTES) {
    target.update(content.subarray(offset, offset + SLICE_BYTES));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return target;
}

function onThreadPool(check: PreparedCheck): Promise<SignatureScheme> {
  return new Promise((resolve, reject) => {
    verify(check.scheme.digest, check.signed, check.key, check.signature, (error, valid) => {
      try {
        resolve(conclude(check, !error && valid));
      } catch (refusal) {
        reject(refusal);
      }
    });
  });
}

function signedAttributesInput(attributes: Uint8Array[], content: Uint8Array, digest: string, computed?: Uint8Array): Uint8Array {
  const values = new Map<string, Uint8Array[]>();
  let count = 0;
  try {
    for (const attribute of attributes) {
      const reader = new DerReader(attribute);
      const sequence = DerReader.inside(attribute, reader.expect(TAG_SEQUENCE, 'Attribute'));
      const type = value(attribute, sequence.expect(TAG_OID, 'attrType'));
      if (type.length > CMS_LIMITS.oidBytes) throw tooComplex(`a signed attribute type of ${type.length} bytes`);
      const oid = decodeOid(type);
      const set = DerReader.inside(attribute, sequence.expect(TAG_SET, 'attrValues'));
      const list: Uint8Array[] = values.get(oid) ?? [];
      while (!set.done) {
        if (++count > CMS_LIMITS.signedAttributeValues) throw tooComplex(`more than ${CMS_LIMITS.signedAttributeValues} signed attribute values`);
        list.push(attribute.subarray(...range(set.next())));
      }
      values.set(oid, list);
    }
  } catch (cause) {
    if (cause instanceof DerError) throw new CmsVerificationError('ERR_CMS_MALFORMED', `signed attributes cannot be parsed: ${cause.message}`, { cause });
    throw cause;
  }
  const single = (oid: string, name: string, tag: number): Uint8Array => {
    const found = values.get(oid);
    if (!found || found.length !== 1 || found[0]![0] !== tag) {
      throw new CmsVerificationError('ERR_CMS_MALFORMED', `signed attributes must hold exactly one ${name} value`);
    }
    const element = found[0]!;
    const reader = new DerReader(element);
    try {
      return value(element, reader.next());
    } catch (cause) {
      throw new CmsVerificationError('ERR_CMS_MALFORMED', `signed ${name} attribute is malformed`, { cause });
    }
  };
  let contentType: string;
  try {
    contentType = decodeOid(single(OID_CONTENT_TYPE, 'contentType', TAG_OID));
  } catch (cause) {
    if (cause instanceof CmsVerificationError) throw cause;
    throw new CmsVerificationError('ERR_CMS_MALFORMED', 'signed contentType attribute is malformed', { cause });
  }
  if (contentType !== OID_DATA) {
    throw new CmsVerificationError('ERR_CONTENT_TYPE_MISMATCH', `signed contentType attribute is ${contentType}, not id-data`);
  }
  const messageDigest = single(OID_MESSAGE_DIGEST, 'messageDigest', TAG_OCTET_STRING);
  const actual = computed ?? createHash(digest).update(content).digest();
  if (actual.length !== messageDigest.length || !timingSafeEqual(actual, messageDigest)) {
    throw new CmsVerificationError('ERR_MESSAGE_DIGEST_MISMATCH', 'signed messageDigest attribute does not match the content: the token was altered');
  }
  // OpenSSL checks the signature over the attributes re-encoded as DER in the order carried (its
  // CMS_Attributes_Verify template keeps the order; the values of each attribute are sorted). Attributes that
  // are not already that DER are refused: a re-encoding of signed bytes is not what was signed.
  const carried = attributes.map((a) => Buffer.from(a));
  for (const attribute of carried) {
    if (!derAttribute(attribute).equals(attribute)) {
      throw new CmsVerificationError('ERR_CMS_MALFORMED', 'signed attributes are not DER-encoded (non-minimal lengths, unsorted values or constructed strings): refused, as RFC 5652 requires DER for them');
    }
  }
  return encodeTlv(TAG_SET, Buffer.concat(carried));
}

/** An Attribute as OpenSSL re-encodes it: minimal lengths, primitive values re-encoded, values sorted. */
function derAttribute(attribute: Buffer): Buffer {
  const reader = new DerReader(attribute);
  const sequence = DerReader.inside(attribute, reader.expect(TAG_SEQUENCE, 'Attribute'));
  const type = sequence.expect(TAG_OID, 'attrType');
  const set = DerReader.inside(attribute, sequence.expect(TAG_SET, 'attrValues'));
  sequence.end('Attribute');
  const values: Buffer[] = [];
  while (!set.done) {
    const element = set.next();
    if (element.tag === TAG_SEQUENCE || element.tag === TAG_SET) values.push(attribute.subarray(element.start, element.end)); // kept whole, as OpenSSL keeps them
    else if (element.tag & 0x20) values.push(Buffer.alloc(0)); // a constructed string: never DER, never equal
    else values.push(encodeTlv(element.tag, value(attribute, element)));
  }
  return encodeTlv(TAG_SEQUENCE, Buffer.concat([encodeTlv(TAG_OID, value(attribute, type)), encodeTlv(TAG_SET, Buffer.concat(values.sort(Buffer.compare)))]));
}

function tooComplex(message: string): CmsVerificationError {
  return new CmsVerificationError('ERR_CMS_TOO_COMPLEX', `CMS message holds more than Keystone writes: ${message}`);
}

function range(tlv: { start: number; end: number }): [number, number] {
  return [tlv.start, tlv.end];
}
