import { CmsVerificationError } from '../errors.js';
import {
  DerError,
  DerReader,
  TAG_CONTEXT_0,
  TAG_CONTEXT_0_PRIMITIVE,
  TAG_CONTEXT_1,
  TAG_INTEGER,
  TAG_OCTET_STRING,
  TAG_OID,
  TAG_SEQUENCE,
  TAG_SET,
  decodeOid as decodeAnyOid,
  value,
  whole,
  type Tlv,
} from './der.js';

export const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
export const OID_DATA = '1.2.840.113549.1.7.1';

/** An AlgorithmIdentifier: OID and the whole TLV of its parameters, if any. */
export interface AlgorithmId {
  oid: string;
  parameters?: Uint8Array;
}

/** The signer a SignerInfo names: by issuer and serial, or by subjectKeyIdentifier. */
export type SignerId = { issuer: Uint8Array; serial: Uint8Array } | { subjectKeyId: Uint8Array };

/** The parts of one SignerInfo that verification reads (slices of the message, not copies). */
export interface SignerInfo {
  sid: SignerId;
  digestAlgorithm: AlgorithmId;
  /** The signed attributes, each a whole Attribute TLV, when present. */
  signedAttributes?: Uint8Array[];
  signatureAlgorithm: AlgorithmId;
  signature: Uint8Array;
}

/**
 * The most of each part a token may carry: Keystone (keystoneclient's cms_sign_data, `openssl cms -sign -nocerts
 * -noattr`) writes one SignerInfo, one digest algorithm, no certificates, no CRLs, no signed attributes. The
 * bounds leave room for every message `openssl cms -sign` writes for one signer (with its certificate and a
 * -certfile chain; signed attributes) and refuse, before any costly step, what only an attacker writes: many
 * signers or digest algorithms (checked against each other: quadratic), CRLs (never sent by Keystone; parsing
 * a large one was most of a forged token's cost), long OBJECT IDENTIFIERs.
 */
export const CMS_LIMITS = {
  signerInfos: 1,
  digestAlgorithms: 8,
  certificates: 16,
  crls: 0,
  signedAttributes: 16,
  signedAttributeValues: 64,
  oidBytes: 64,
} as const;

function tooComplex(message: string): CmsVerificationError {
  return new CmsVerificationError('ERR_CMS_TOO_COMPLEX', `CMS message holds more than Keystone writes: ${message}`);
}

/** An OBJECT IDENTIFIER's dotted form, refused past CMS_LIMITS.oidBytes (no real OID is half as long). */
function decodeOid(contents: Uint8Array): string {
  if (contents.length > CMS_LIMITS.oidBytes) throw tooComplex(`an OBJECT IDENTIFIER of ${contents.length} bytes (at most ${CMS_LIMITS.oidBytes})`);
  return decodeAnyOid(contents);
}

/** The parts of a CMS SignedData that token verification reads. */
export interface ParsedSignedData {
  /** eContentType of the encapsulated content (id-data for Keystone tokens). */
  contentType: string;
  /** The signed bytes: the token body. */
  content: Uint8Array;
  signerInfos: SignerInfo[];
  /** The OIDs of the SignedData digestAlgorithms set. */
  digestAlgorithms: string[];
  /**
   * The certificates the message carries (whole TLVs, not parsed: they are never trusted nor used, the signer
   * comes from signing_cert.pem). verify.ts checks that they parse, as openssl does, only once the signature
   * has verified, so that no forged token can make this library parse certificates.
   */
  certificates: Uint8Array[];
}

/**
 * Parses DER ContentInfo { id-signedData, SignedData } with encapsulated id-data content (`-nodetach`).
 * Throws CmsVerificationError: ERR_CMS_MALFORMED, ERR_CMS_NOT_SIGNED_DATA, ERR_CMS_DETACHED, ERR_CMS_CONTENT_NOT_DATA.
 */
export function parseSignedData(der: Uint8Array): ParsedSignedData {
  try {
    return readSignedData(der);
  } catch (cause) {
    if (cause instanceof DerError) {
      throw new CmsVerificationError('ERR_CMS_MALFORMED', `token is not a well-formed CMS SignedData message: ${cause.message}`, { cause });
    }
    throw cause;
  }
}

function readSignedData(bytes: Uint8Array): ParsedSignedData {
  const outer = new DerReader(bytes);
  const contentInfoTlv = outer.expect(TAG_SEQUENCE, 'ContentInfo');
  outer.end('ContentInfo');
  const contentInfo = DerReader.inside(bytes, contentInfoTlv);
  const contentType = decodeOid(value(bytes, contentInfo.expect(TAG_OID, 'contentType')));
  if (contentType !== OID_SIGNED_DATA) {
    throw new CmsVerificationError('ERR_CMS_NOT_SIGNED_DATA', `CMS message is of type ${contentType}, not signedData (${OID_SIGNED_DATA})`);
  }
  const explicit = DerReader.inside(bytes, contentInfo.expect(TAG_CONTEXT_0, 'content'));
  contentInfo.end('ContentInfo');
  const signedData = DerReader.inside(bytes, explicit.expect(TAG_SEQUENCE, 'SignedData'));
  explicit.end('content');

  signedData.expect(TAG_INTEGER, 'version');
  const digestSet = DerReader.inside(bytes, signedData.expect(TAG_SET, 'digestAlgorithms'));
  const digestAlgorithms: string[] = [];
  while (!digestSet.done) {
    if (digestAlgorithms.length === CMS_LIMITS.digestAlgorithms) throw tooComplex(`more than ${CMS_LIMITS.digestAlgorithms} digest algorithms`);
    digestAlgorithms.push(readAlgorithm(bytes, digestSet.expect(TAG_SEQUENCE, 'DigestAlgorithmIdentifier')).oid);
  }
  const encapsulated = DerReader.inside(bytes, signedData.expect(TAG_SEQUENCE, 'encapContentInfo'));
  const eContentType = decodeOid(value(bytes, encapsulated.expect(TAG_OID, 'eContentType')));
  const eContentTlv = encapsulated.optional(TAG_CONTEXT_0);
  encapsulated.end('encapContentInfo');
  // Keystone tokens carry no certificates (-nocerts) and no CRLs; the signer comes from signing_cert.pem. The
  // certificates are only delimited here (see ParsedSignedData.certificates); a CRL is refused unparsed.
  const certificatesTlv = signedData.optional(TAG_CONTEXT_0);
  const certificates = certificatesTlv ? readCertificateChoices(bytes, certificatesTlv) : [];
  const crls = signedData.optional(TAG_CONTEXT_1);
  if (crls) readNoCrls(bytes, crls);
  const signerInfosTlv = signedData.expect(TAG_SET, 'signerInfos');
  signedData.end('SignedData');

  if (eContentType !== OID_DATA) {
    throw new CmsVerificationError('ERR_CMS_CONTENT_NOT_DATA', `signed content is of type ${eContentType}; Keystone tokens carry id-data (${OID_DATA})`);
  }
  if (!eContentTlv) {
    throw new CmsVerificationError('ERR_CMS_DETACHED', 'CMS message carries no content (detached signature); Keystone tokens embed it (-nodetach)');
  }
  const eContent = DerReader.inside(bytes, eContentTlv);
  const octets = eContent.expect(TAG_OCTET_STRING, 'eContent');
  eContent.end('eContent');

  const signerInfos: SignerInfo[] = [];
  const set = DerReader.inside(bytes, signerInfosTlv);
  while (!set.done) {
    if (signerInfos.length === CMS_LIMITS.signerInfos) throw tooComplex(`more than ${CMS_LIMITS.signerInfos} SignerInfo`);
    signerInfos.push(readSignerInfo(bytes, set.expect(TAG_SEQUENCE, 'SignerInfo')));
  }
  if (signerInfos.length === 0) throw new CmsVerificationError('ERR_CMS_MALFORMED', 'CMS message has no SignerInfo');
  return { contentType: eContentType, content: value(bytes, octets), signerInfos, digestAlgorithms, certificates };
}

/**
 * The elements of the certificates field, delimited, not parsed. Each must be an X.509 certificate (a
 * SEQUENCE); other CertificateChoices (attribute certificates, other formats) are refused: no Keystone token
 * carries them.
 */
function readCertificateChoices(bytes: Uint8Array, field: Tlv): Uint8Array[] {
  const reader = DerReader.inside(bytes, field);
  const certificates: Uint8Array[] = [];
  while (!reader.done) {
    if (certificates.length === CMS_LIMITS.certificates) throw tooComplex(`more than ${CMS_LIMITS.certificates} certificates`);
    const element = reader.next();
    if (element.tag !== TAG_SEQUENCE) throw new DerError(`certificates: an element of tag 0x${element.tag.toString(16)} where an X.509 certificate was expected`);
    certificates.push(whole(bytes, element));
  }
  return certificates;
}

/**
 * Whether one carried certificate has the shape of an X.509 certificate, as openssl's decoder reads it before
 * it verifies: Certificate { TBSCertificate { [0] version?, serialNumber, signature, issuer, validity { two
 * times }, subject, subjectPublicKeyInfo, [1]? [2]? [3]? }, signatureAlgorithm, signatureValue }. A walk of a
 * few elements (microseconds), not a parse: node's X509Certificate costs about 0.3 ms a certificate, which 16
 * carried certificates would turn into a cost a holder of any signed token could repeat at will.
 */
export function checkCertificateShape(der: Uint8Array): void {
  try {
    const outer = new DerReader(der);
    const certificate = DerReader.inside(der, outer.expect(TAG_SEQUENCE, 'Certificate'));
    outer.end('Certificate');
    const tbs = DerReader.inside(der, certificate.expect(TAG_SEQUENCE, 'tbsCertificate'));
    readAlgorithm(der, certificate.expect(TAG_SEQUENCE, 'signatureAlgorithm'));
    certificate.expect(0x03, 'signatureValue');
    certificate.end('Certificate');
    const version = tbs.optional(TAG_CONTEXT_0);
    if (version) DerReader.inside(der, version).expect(TAG_INTEGER, 'version');
    tbs.expect(TAG_INTEGER, 'serialNumber');
    readAlgorithm(der, tbs.expect(TAG_SEQUENCE, 'signature'));
    tbs.expect(TAG_SEQUENCE, 'issuer');
    const validity = DerReader.inside(der, tbs.expect(TAG_SEQUENCE, 'validity'));
    for (const which of ['notBefore', 'notAfter']) {
      const time = validity.next();
      if (time.tag !== 0x17 && time.tag !== 0x18) throw new DerError(`validity ${which} is not a UTCTime or GeneralizedTime`);
    }
    validity.end('validity');
    tbs.expect(TAG_SEQUENCE, 'subject');
    const spki = DerReader.inside(der, tbs.expect(TAG_SEQUENCE, 'subjectPublicKeyInfo'));
    readAlgorithm(der, spki.expect(TAG_SEQUENCE, 'algorithm'));
    spki.expect(0x03, 'subjectPublicKey');
    spki.end('subjectPublicKeyInfo');
    for (const tag of [0x81, 0x82, 0xa3]) tbs.optional(tag);
    tbs.end('tbsCertificate');
  } catch (cause) {
    if (!(cause instanceof DerError || cause instanceof CmsVerificationError)) throw cause;
    throw new CmsVerificationError('ERR_CMS_MALFORMED', `token is not a well-formed CMS SignedData message: certificates: an element does not parse as an X.509 certificate (${cause.message})`, { cause });
  }
}

/**
 * The crls field: Keystone never writes one. An element that is not even a SEQUENCE is malformed (as openssl
 * finds); any CRL is refused unparsed (stricter than openssl, which parses and then ignores it).
 */
function readNoCrls(bytes: Uint8Array, field: Tlv): void {
  const reader = DerReader.inside(bytes, field);
  if (reader.done) return;
  const element = reader.next();
  if (element.tag !== TAG_SEQUENCE) throw new DerError(`crls: an element of tag 0x${element.tag.toString(16)} where an X.509 CRL was expected`);
  throw tooComplex('a CRL in the crls field');
}

function readSignerInfo(bytes: Uint8Array, tlv: Tlv): SignerInfo {
  const reader = DerReader.inside(bytes, tlv);
  reader.expect(TAG_INTEGER, 'SignerInfo version');
  const sidTlv = reader.next();
  let sid: SignerId;
  if (sidTlv.tag === TAG_SEQUENCE) {
    const issuerAndSerial = DerReader.inside(bytes, sidTlv);
    const issuer = whole(bytes, issuerAndSerial.expect(TAG_SEQUENCE, 'issuer'));
    const serial = value(bytes, issuerAndSerial.expect(TAG_INTEGER, 'serialNumber'));
    issuerAndSerial.end('IssuerAndSerialNumber');
    sid = { issuer, serial };
  } else if (sidTlv.tag === TAG_CONTEXT_0_PRIMITIVE) {
    sid = { subjectKeyId: value(bytes, sidTlv) };
  } else {
    throw new DerError('SignerInfo sid is neither issuerAndSerialNumber nor subjectKeyIdentifier');
  }
  const digestAlgorithm = readAlgorithm(bytes, reader.expect(TAG_SEQUENCE, 'digestAlgorithm'));
  const attributesTlv = reader.optional(TAG_CONTEXT_0);
  let signedAttributes: Uint8Array[] | undefined;
  if (attributesTlv) {
    signedAttributes = [];
    const attributes = DerReader.inside(bytes, attributesTlv);
    while (!attributes.done) {
      if (signedAttributes.length === CMS_LIMITS.signedAttributes) throw tooComplex(`more than ${CMS_LIMITS.signedAttributes} signed attributes`);
      signedAttributes.push(whole(bytes, attributes.expect(TAG_SEQUENCE, 'Attribute')));
    }
  }
  const signatureAlgorithm = readAlgorithm(bytes, reader.expect(TAG_SEQUENCE, 'signatureAlgorithm'));
  const signature = value(bytes, reader.expect(TAG_OCTET_STRING, 'signature'));
  reader.optional(TAG_CONTEXT_1); // unsigned attributes
  reader.end('SignerInfo');
  return { sid, digestAlgorithm, signedAttributes, signatureAlgorithm, signature };
}

export function readAlgorithm(bytes: Uint8Array, tlv: Tlv): AlgorithmId {
  const reader = DerReader.inside(bytes, tlv);
  const oid = decodeOid(value(bytes, reader.expect(TAG_OID, 'algorithm')));
  const parameters = reader.done ? undefined : whole(bytes, reader.next());
  reader.end('AlgorithmIdentifier');
  return { oid, parameters };
}
