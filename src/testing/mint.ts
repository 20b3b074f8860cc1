import { sign } from 'node:crypto';
import { encodeOid, encodeTlv, encodeUnsignedInteger, sequence, set } from '../cms/der.js';
import { cmsPem, derToPkizToken } from '../token/format.js';
import type { TestCertificate } from './pki.js';

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_DATA = '1.2.840.113549.1.7.1';
const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
const OID_RSA = '1.2.840.113549.1.1.1';
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';

/**
 * Signs `content` as Keystone does with `openssl cms -sign -nosmimecap -nodetach -nocerts -noattr -md sha256`:
 * a DER ContentInfo/SignedData with embedded id-data content, no certificates, no signed attributes, one
 * SignerInfo naming the signer by issuer and serial.
 */
export function signCms(content: Uint8Array, signer: TestCertificate): Buffer {
  const isEc = signer.privateKey.asymmetricKeyType === 'ec';
  const signature = isEc ? sign('sha256', content, { key: signer.privateKey, dsaEncoding: 'der' }) : sign('sha256', content, signer.privateKey);
  const digestAlgorithm = sequence(encodeOid(OID_SHA256));
  const signatureAlgorithm = isEc ? sequence(encodeOid(OID_ECDSA_SHA256)) : sequence(encodeOid(OID_RSA), Buffer.from([0x05, 0x00]));
  const signerInfo = sequence(
    encodeUnsignedInteger(Buffer.from([1])),
    sequence(signer.issuerName, encodeUnsignedInteger(signer.serial)),
    digestAlgorithm,
    signatureAlgorithm,
    encodeTlv(0x04, signature),
  );
  const signedData = sequence(
    encodeUnsignedInteger(Buffer.from([1])),
    set(digestAlgorithm),
    sequence(encodeOid(OID_DATA), encodeTlv(0xa0, encodeTlv(0x04, Buffer.from(content)))),
    set(signerInfo),
  );
  return sequence(encodeOid(OID_SIGNED_DATA), encodeTlv(0xa0, signedData));
}

/** keystoneclient's cms_to_token: base64 of the DER with '/' written as '-'. */
export function toPkiToken(der: Uint8Array): string {
  return Buffer.from(der).toString('base64').replace(/\//g, '-');
}

/** keystoneclient's pkiz_sign: 'PKIZ_' + urlsafe base64 of zlib.compress(<PEM text>, 6). */
export const toPkizToken = derToPkizToken;

/** PEM CMS, as openssl writes it (the revocation list is served so). */
export const toPem = cmsPem;
