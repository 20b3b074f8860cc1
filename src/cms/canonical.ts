import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { DIGEST_OIDS, digestName, OID_RSA_ENCRYPTION, OID_RSASSA_PSS } from './algorithms.js';
import type { ParsedCertificate } from './certificate.js';
import { DerReader, encodeOid, encodeTlv, encodeUnsignedInteger, sequence, set, TAG_CONTEXT_0, TAG_INTEGER, TAG_OCTET_STRING, TAG_SEQUENCE, value } from './der.js';
import { OID_DATA, OID_SIGNED_DATA, type ParsedSignedData, type SignerInfo } from './signed-data.js';

const NULL = Buffer.from([0x05, 0x00]);
const OID_MGF1 = '1.2.840.113549.1.1.8';
const ECDSA_WITH: Record<string, string> = {
  sha1: '1.2.840.10045.4.1',
  sha224: '1.2.840.10045.4.3.1',
  sha256: '1.2.840.10045.4.3.2',
  sha384: '1.2.840.10045.4.3.3',
  sha512: '1.2.840.10045.4.3.4',
};
/** Orders of the curves openssl signs with, for the other ECDSA signature (r, n - s) of the same message. */
const CURVE_ORDERS: Record<string, bigint> = {
  prime256v1: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  secp384r1: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  secp521r1: 0x01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
};

/** A digest AlgorithmIdentifier as openssl writes it: SHA-1 and SHA-2 without parameters. */
function digestAlgorithm(digest: string): Buffer {
  return sequence(encodeOid(DIGEST_OIDS[digest]!));
}

/** RSASSA-PSS parameters as openssl writes them: defaults (SHA-1, MGF1-SHA-1, salt 20, trailer 1) omitted. */
function pssParameters(parameters: Uint8Array | undefined): Buffer {
  const params = parameters ? AsnConvert.parse(parameters, RsaSaPssParams) : new RsaSaPssParams();
  const hash = digestName(params.hashAlgorithm.algorithm);
  const mgfHash = params.maskGenAlgorithm.parameters ? digestName(AsnConvert.parse(params.maskGenAlgorithm.parameters, AlgorithmIdentifier).algorithm) : 'sha1';
  const withNull = (digest: string) => sequence(encodeOid(DIGEST_OIDS[digest]!), NULL);
  return sequence(
    ...(hash === 'sha1' ? [] : [encodeTlv(0xa0, withNull(hash))]),
    ...(mgfHash === 'sha1' ? [] : [encodeTlv(0xa1, sequence(encodeOid(OID_MGF1), withNull(mgfHash)))]),
    ...(params.saltLength === 20 ? [] : [encodeTlv(0xa2, encodeUnsignedInteger(bigintBytes(BigInt(params.saltLength))))]),
  );
}

/** The signature AlgorithmIdentifier `openssl cms -sign` writes for this key and digest. */
function signatureAlgorithm(signerInfo: SignerInfo, signer: ParsedCertificate, digest: string): Buffer {
  if (signerInfo.signatureAlgorithm.oid === OID_RSASSA_PSS) return sequence(encodeOid(OID_RSASSA_PSS), pssParameters(signerInfo.signatureAlgorithm.parameters));
  if (signer.publicKey.asymmetricKeyType === 'ec') return sequence(encodeOid(ECDSA_WITH[digest]!));
  return sequence(encodeOid(OID_RSA_ENCRYPTION), NULL);
}

/** The signature values of the same signature: the value itself; for ECDSA also (r, n - s), equally valid. */
function signatureValues(signature: Uint8Array, signer: ParsedCertificate): Buffer[] {
  const order = CURVE_ORDERS[signer.publicKey.asymmetricKeyDetails?.namedCurve ?? ''];
  if (signer.publicKey.asymmetricKeyType !== 'ec' || !order) return [Buffer.from(signature)];
  try {
    const reader = DerReader.inside(signature, new DerReader(signature).expect(TAG_SEQUENCE, 'ECDSA-Sig-Value'));
    const r = value(signature, reader.expect(TAG_INTEGER, 'r'));
    const s = BigInt('0x' + (Buffer.from(value(signature, reader.expect(TAG_INTEGER, 's'))).toString('hex') || '0'));
    return [s, order - s].map((v) => sequence(encodeUnsignedInteger(r), encodeUnsignedInteger(bigintBytes(v))));
  } catch {
    return [Buffer.from(signature)];
  }
}

function bigintBytes(v: bigint): Buffer {
  const hex = v.toString(16);
  return Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex');
}

/**
 * Every DER message `openssl cms -sign -nosmimecap -nodetach -nocerts -noattr` (keystoneclient's cms_sign_data)
 * could have written for the signed content of `signedData` and one of its signatures: ContentInfo/SignedData
 * version 1, one digest algorithm without parameters, no certificates or CRLs, one SignerInfo naming `signer`
 * by issuer and serial, the algorithm identifiers as openssl writes them, the signed attributes as carried
 * (they are under the signature), no unsigned attributes. Everything a signature does not cover is thereby
 * undone: relabelled algorithms, a signer named by key id, repeated SignerInfos, added certificates, other
 * versions or digest sets, ECDSA's (r, n - s). Call it only for a message verified against `signer`.
 */
export function canonicalForms(signedData: ParsedSignedData, signer: ParsedCertificate): Buffer[] {
  const forms = new Map<string, Buffer>();
  const content = sequence(encodeOid(OID_DATA), encodeTlv(TAG_CONTEXT_0, encodeTlv(TAG_OCTET_STRING, Buffer.from(signedData.content))));
  const sid = sequence(signer.issuerDer, encodeTlv(TAG_INTEGER, signer.serialDer));
  for (const signerInfo of signedData.signerInfos) {
    let digest: string;
    let algorithm: Buffer;
    try {
      digest = digestName(signerInfo.digestAlgorithm.oid);
      algorithm = signatureAlgorithm(signerInfo, signer, digest);
    } catch {
      continue; // a SignerInfo that cannot verify gives no form
    }
    const attributes = signerInfo.signedAttributes ? [encodeTlv(TAG_CONTEXT_0, Buffer.concat(signerInfo.signedAttributes))] : [];
    for (const signature of signatureValues(signerInfo.signature, signer)) {
      const info = sequence(encodeUnsignedInteger(Buffer.from([1])), sid, digestAlgorithm(digest), ...attributes, algorithm, encodeTlv(TAG_OCTET_STRING, signature));
      const body = sequence(encodeUnsignedInteger(Buffer.from([1])), set(digestAlgorithm(digest)), content, set(info));
      const der = sequence(encodeOid(OID_SIGNED_DATA), encodeTlv(TAG_CONTEXT_0, body));
      forms.set(der.toString('latin1'), der);
    }
  }
  return [...forms.values()];
}
