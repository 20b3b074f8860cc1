// Variants of one signed token: the same signed content and signature under other bytes or strings. What an
// attacker holding a revoked token can make of it without the signing key.
import pako from 'pako';
import { encodeOid, encodeTlv, encodeUnsignedInteger, sequence, set } from '../../src/cms/der.js';
import { parseCertificates, type ParsedCertificate } from '../../src/cms/certificate.js';
import { parseSignedData, type AlgorithmId, type SignerInfo } from '../../src/cms/signed-data.js';
import { cmsPem, derToPkiToken, tokenToDer } from '../../src/token/format.js';

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_DATA = '1.2.840.113549.1.7.1';
const OID_RSA = '1.2.840.113549.1.1.1';
const RSA_WITH: Record<string, string> = { '1.3.14.3.2.26': '1.2.840.113549.1.1.5', '2.16.840.1.101.3.4.2.1': '1.2.840.113549.1.1.11' };
const EC_ORDER: Record<string, bigint> = {
  prime256v1: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
};

export interface SignerParts {
  version: number;
  sid: Buffer;
  digestOid: string;
  digest: Buffer;
  attributes?: Buffer;
  signatureAlgorithm: Buffer;
  signature: Buffer;
  unsigned?: Buffer;
}

export interface Parts {
  version: number;
  digests: Buffer[];
  content: Buffer;
  certificates?: Buffer;
  crls?: Buffer;
  signers: SignerParts[];
}

function algorithm(id: AlgorithmId): Buffer {
  return sequence(encodeOid(id.oid), ...(id.parameters ? [Buffer.from(id.parameters)] : []));
}

function signerParts(info: SignerInfo): SignerParts {
  const sid = 'serial' in info.sid ? sequence(Buffer.from(info.sid.issuer), encodeTlv(0x02, Buffer.from(info.sid.serial))) : encodeTlv(0x80, Buffer.from(info.sid.subjectKeyId));
  return {
    version: 'serial' in info.sid ? 1 : 3,
    sid,
    digestOid: info.digestAlgorithm.oid,
    digest: algorithm(info.digestAlgorithm),
    attributes: info.signedAttributes ? encodeTlv(0xa0, Buffer.concat(info.signedAttributes)) : undefined,
    signatureAlgorithm: algorithm(info.signatureAlgorithm),
    signature: Buffer.from(info.signature),
  };
}

export function partsOf(der: Uint8Array): Parts {
  const parsed = parseSignedData(der);
  const signers = parsed.signerInfos.map(signerParts);
  return { version: 1, digests: [signers[0]!.digest], content: Buffer.from(parsed.content), signers };
}

export function build(parts: Parts): Buffer {
  const signerInfo = (s: SignerParts) =>
    sequence(encodeUnsignedInteger(Buffer.from([s.version])), s.sid, s.digest, ...(s.attributes ? [s.attributes] : []), s.signatureAlgorithm, encodeTlv(0x04, s.signature), ...(s.unsigned ? [s.unsigned] : []));
  const body = sequence(
    encodeUnsignedInteger(Buffer.from([parts.version])),
    set(...parts.digests),
    sequence(encodeOid(OID_DATA), encodeTlv(0xa0, encodeTlv(0x04, parts.content))),
    ...(parts.certificates ? [parts.certificates] : []),
    ...(parts.crls ? [parts.crls] : []),
    set(...parts.signers.map(signerInfo)),
  );
  return sequence(encodeOid(OID_SIGNED_DATA), encodeTlv(0xa0, body));
}

/** One change to the DER that no signature covers. */
export interface DerTransform {
  name: string;
  applies(parts: Parts, signer: ParsedCertificate): boolean;
  apply(parts: Parts, signer: ParsedCertificate): void;
  /** Why we refuse what the references accept, where we deliberately do. */
  stricter?: string;
}

const first = (parts: Parts) => parts.signers[0]!;

export const DER_TRANSFORMS: DerTransform[] = [
  {
    name: 'signature algorithm relabelled (rsaEncryption <-> shaXWithRSAEncryption)',
    applies: (p, s) => s.publicKey.asymmetricKeyType === 'rsa' && RSA_WITH[digestOid(first(p))] !== undefined,
    apply: (p) => {
      const s = first(p);
      const relabelled = s.signatureAlgorithm.includes(encodeOid(OID_RSA)) ? RSA_WITH[digestOid(s)]! : OID_RSA;
      s.signatureAlgorithm = sequence(encodeOid(relabelled), Buffer.from([0x05, 0x00]));
    },
  },
  {
    name: 'SignerInfo repeated',
    applies: () => true,
    apply: (p) => p.signers.push({ ...first(p) }),
    stricter: 'keystoneclient signs with one SignerInfo; more are refused before any signature work (ERR_CMS_TOO_COMPLEX: each one costs a verification, a lever on CPU for an attacker)',
  },
  {
    name: 'signer named by subjectKeyIdentifier',
    applies: (_p, s) => s.subjectKeyId !== undefined,
    apply: (p, s) => {
      for (const info of p.signers) Object.assign(info, { version: 3, sid: encodeTlv(0x80, s.subjectKeyId!) });
      p.version = 3;
    },
  },
  {
    name: 'ECDSA s replaced by n - s',
    applies: (_p, s) => s.publicKey.asymmetricKeyType === 'ec',
    apply: (p, s) => {
      const info = first(p);
      const order = EC_ORDER[s.publicKey.asymmetricKeyDetails!.namedCurve!]!;
      const sig = info.signature;
      const rLength = sig[3]!;
      const r = sig.subarray(4, 4 + rLength);
      const sBytes = sig.subarray(6 + rLength, 6 + rLength + sig[5 + rLength]!);
      const negated = order - BigInt('0x' + sBytes.toString('hex'));
      const hex = negated.toString(16);
      info.signature = sequence(encodeUnsignedInteger(r), encodeUnsignedInteger(Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex')));
    },
  },
  { name: 'signing certificate added to certificates', applies: () => true, apply: (p, s) => (p.certificates = encodeTlv(0xa0, s.der)) },
  { name: 'SignedData version 1 -> 4', applies: () => true, apply: (p) => (p.version = 4) },
  { name: 'extra digest algorithm in the SignedData set', applies: () => true, apply: (p) => p.digests.push(sequence(encodeOid('2.16.840.1.101.3.4.2.3'))) },
  { name: 'digest algorithm with NULL parameters', applies: () => true, apply: (p) => (first(p).digest = sequence(encodeOid(digestOid(first(p))), Buffer.from([0x05, 0x00]))) },
  {
    name: 'unsigned attribute added',
    applies: () => true,
    apply: (p) => (first(p).unsigned = encodeTlv(0xa1, sequence(encodeOid('1.2.840.113549.1.9.2'), set(encodeTlv(0x0c, Buffer.from('hello')))))),
  },
];

function digestOid(s: SignerParts): string {
  return s.digestOid;
}

/** One way of writing DER as a token string. `stricter`: why we refuse what keystoneclient accepts. */
export interface Encoding {
  name: string;
  encode(der: Uint8Array): string;
  stricter?: string;
}

const urlsafe = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
const pkiz = (text: string | Uint8Array, level: number) => 'PKIZ_' + urlsafe(pako.deflate(text, { level: level as 0 }));

const STRICT_ONE_STRING = 'one signed message, one token string: Keystone never wrote this form, and each extra string is another id to revoke';
export const ENCODINGS: Encoding[] = [
  { name: 'PKI', encode: (der) => derToPkiToken(der) },
  { name: 'PKIZ (zlib level 6, as pkiz_sign)', encode: (der) => pkiz(cmsPem(der), 6) },
  { name: 'PKIZ recompressed at level 1', encode: (der) => pkiz(cmsPem(der), 1) },
  { name: 'PKIZ recompressed at level 9', encode: (der) => pkiz(cmsPem(der), 9) },
  { name: 'PKIZ stored (level 0)', encode: (der) => pkiz(cmsPem(der), 0) },
  { name: 'PKIZ with its padding removed', encode: (der) => pkiz(cmsPem(der), 6).replace(/=+$/, '') },
  { name: 'PKIZ with bytes after the zlib stream', encode: (der) => 'PKIZ_' + urlsafe(Buffer.concat([pako.deflate(cmsPem(der), { level: 6 }), Buffer.from('trailing')])), stricter: STRICT_ONE_STRING },
  { name: 'PKIZ of PEM with CRLF line ends', encode: (der) => pkiz(cmsPem(der).replace(/\n/g, '\r\n'), 6), stricter: STRICT_ONE_STRING },
  { name: 'PKIZ of PEM labelled PKCS7', encode: (der) => pkiz(cmsPem(der).replace(/CMS-----/g, 'PKCS7-----'), 6), stricter: STRICT_ONE_STRING },
  { name: 'PKIZ of PEM with text before the block', encode: (der) => pkiz('hello\n' + cmsPem(der), 6), stricter: STRICT_ONE_STRING },
  { name: 'PKIZ of PEM without its last newline', encode: (der) => pkiz(cmsPem(der).trimEnd(), 6), stricter: STRICT_ONE_STRING },
  { name: 'PKIZ in the standard base64 alphabet', encode: (der) => 'PKIZ_' + Buffer.from(pako.deflate(cmsPem(der), { level: 6 })).toString('base64'), stricter: STRICT_ONE_STRING },
  { name: 'PKIZ of DER (not PEM)', encode: (der) => pkiz(der, 6) },
  { name: 'PKI with "/" (not "-")', encode: (der) => Buffer.from(der).toString('base64'), stricter: STRICT_ONE_STRING },
  { name: 'PKI with its padding removed', encode: (der) => derToPkiToken(der).replace(/=+$/, '') },
];

/** The DER of each applicable transform of a token's message, with the name of the transform. */
export function derVariants(token: string, signerPem: string): { name: string; der: Buffer; stricter?: string }[] {
  const signer = parseCertificates(signerPem, 'signer')[0]!;
  const der = tokenToDer(token);
  return DER_TRANSFORMS.filter((t) => t.applies(partsOf(der), signer)).map((t) => {
    const parts = partsOf(der);
    t.apply(parts, signer);
    return { name: t.name, der: build(parts), stricter: t.stricter };
  });
}

/** Applies a chain of transforms (fast-check picks them) to a token's message. */
export function transformed(token: string, signerPem: string, names: string[]): Buffer {
  const signer = parseCertificates(signerPem, 'signer')[0]!;
  const parts = partsOf(tokenToDer(token));
  for (const name of names) {
    const t = DER_TRANSFORMS.find((x) => x.name === name)!;
    if (t.applies(parts, signer)) t.apply(parts, signer);
  }
  return build(parts);
}
