import { OID_EC_PUBLIC_KEY, OID_RSASSA_PSS } from './algorithms.js';
import { encodeOid, encodeTlv, encodeUnsignedInteger, sequence, set, TAG_CONTEXT_0, TAG_OCTET_STRING, TAG_SET } from './der.js';
import { OID_DATA, OID_SIGNED_DATA, type AlgorithmId, type ParsedSignedData, type SignerInfo } from './signed-data.js';

const NULL = Buffer.from([0x05, 0x00]);

/** AlgorithmIdentifiers as `openssl cms -sign` writes them: digests without parameters, RSA with NULL. */
function canonicalAlgorithm(algorithm: AlgorithmId, kind: 'digest' | 'signature'): Buffer {
  const oid = encodeOid(algorithm.oid);
  if (kind === 'digest') return sequence(oid);
  if (algorithm.oid === OID_RSASSA_PSS) return sequence(oid, ...(algorithm.parameters ? [Buffer.from(algorithm.parameters)] : []));
  if (algorithm.oid.startsWith('1.2.840.10045.') || algorithm.oid === OID_EC_PUBLIC_KEY) return sequence(oid);
  return sequence(oid, NULL);
}

function canonicalSignerInfo(signerInfo: SignerInfo): Buffer {
  const sid = signerInfo.sid;
  const byKeyId = !('serial' in sid);
  const attributes = signerInfo.signedAttributes
    ? [encodeTlv(TAG_CONTEXT_0, Buffer.concat(signerInfo.signedAttributes.map((a) => Buffer.from(a)).sort(Buffer.compare)))]
    : [];
  return sequence(
    encodeUnsignedInteger(Buffer.from([byKeyId ? 3 : 1])),
    'serial' in sid ? sequence(Buffer.from(sid.issuer), encodeUnsignedInteger(sid.serial)) : encodeTlv(0x80, Buffer.from(sid.subjectKeyId)),
    canonicalAlgorithm(signerInfo.digestAlgorithm, 'digest'),
    ...attributes,
    canonicalAlgorithm(signerInfo.signatureAlgorithm, 'signature'),
    encodeTlv(TAG_OCTET_STRING, Buffer.from(signerInfo.signature)),
  );
}

/**
 * The DER `openssl cms -sign -nodetach -nocerts` would have written for the same content, signers and
 * signatures. Parts of a SignedData that no signature covers (versions, the digestAlgorithms set, certificates,
 * unsigned attributes, parameter encodings) can be altered without breaking verification; the canonical form
 * gives such variants of one token the same id, so that they meet the same revocation list entry.
 */
export function canonicalDer(signedData: ParsedSignedData): Buffer {
  const signerInfos = signedData.signerInfos.map(canonicalSignerInfo);
  const digests = [...new Map(signedData.signerInfos.map((s) => [s.digestAlgorithm.oid, canonicalAlgorithm(s.digestAlgorithm, 'digest')])).values()];
  const anyKeyId = signedData.signerInfos.some((s) => !('serial' in s.sid));
  const content = sequence(
    encodeUnsignedInteger(Buffer.from([anyKeyId ? 3 : 1])),
    encodeTlv(TAG_SET, Buffer.concat(digests.sort(Buffer.compare))),
    sequence(encodeOid(OID_DATA), encodeTlv(TAG_CONTEXT_0, encodeTlv(TAG_OCTET_STRING, Buffer.from(signedData.content)))),
    set(...signerInfos.sort(Buffer.compare)),
  );
  return sequence(encodeOid(OID_SIGNED_DATA), encodeTlv(TAG_CONTEXT_0, content));
}
