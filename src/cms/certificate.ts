import { X509Certificate, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  KeyUsage,
  KeyUsageFlags,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { CertificateError } from '../errors.js';
import { DerReader, TAG_CONTEXT_0, TAG_INTEGER, TAG_SEQUENCE, value, whole } from './der.js';
import { parseNameConstraints, subjectAltDirectoryNames, type NameConstraints } from './name-constraints.js';

const OID_NS_CERT_TYPE = '2.16.840.1.113730.1.1';
const OID_NAME_CONSTRAINTS = '2.5.29.30';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';

/** Netscape certificate type bits, as OpenSSL reads them (the first byte of the BIT STRING). */
export const NS_SSL_CLIENT = 0x80;
export const NS_SMIME = 0x20;
export const NS_SMIME_CA = 0x02;
export const NS_ANY_CA = 0x07;

/** Extensions OpenSSL understands (X509_supported_extension); a critical extension outside this set fails verification. */
const SUPPORTED_CRITICAL = new Set([
  '2.16.840.1.113730.1.1', // nsCertType
  '2.5.29.15', // keyUsage
  '2.5.29.17', // subjectAltName
  '2.5.29.19', // basicConstraints
  '2.5.29.32', // certificatePolicies
  '2.5.29.37', // extendedKeyUsage
  '2.5.29.36', // policyConstraints
  '1.3.6.1.5.5.7.1.14', // proxyCertInfo
  '2.5.29.30', // nameConstraints
  '2.5.29.33', // policyMappings
  '2.5.29.54', // inhibitAnyPolicy
  '1.3.6.1.5.5.7.1.7', // sbgp-ipAddrBlock
  '1.3.6.1.5.5.7.1.8', // sbgp-autonomousSysNum
]);

export const EKU_EMAIL_PROTECTION = '1.3.6.1.5.5.7.3.4';
export const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  [EKU_EMAIL_PROTECTION]: 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

/** One X.509 certificate, parsed once, with what verification needs at hand. */
export class ParsedCertificate {
  readonly der: Buffer;
  readonly x509: X509Certificate;
  readonly publicKey: KeyObject;
  /** Readable subject, e.g. "CN=Keystone Signing, O=Example". */
  readonly subject: string;
  readonly issuer: string;
  /** Serial number as upper-case hex without leading zeros (as openssl prints it). */
  readonly serial: string;
  /** Contents of the serialNumber INTEGER, as they appear in the certificate. */
  readonly serialDer: Buffer;
  /** DER of the subject and issuer Names, as they appear in the certificate. */
  readonly subjectDer: Buffer;
  readonly issuerDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subjectKeyId: Buffer | undefined;
  /** KeyUsageFlags bits, or undefined when the extension is absent. */
  readonly keyUsage: number | undefined;
  /** extendedKeyUsage OIDs, or undefined when the extension is absent. */
  readonly extKeyUsage: string[] | undefined;
  readonly basicConstraints: { ca: boolean; pathLength: number | undefined } | undefined;
  readonly unsupportedCritical: string[];
  readonly version: number;
  /** nsCertType bits (NS_*), or undefined when the extension is absent. */
  readonly nsCertType: number | undefined;
  readonly nameConstraints: NameConstraints | undefined;
  /** directoryName entries of subjectAltName (checked against nameConstraints, as the subject is). */
  readonly subjectAltDirectoryNames: readonly Uint8Array[];

  constructor(der: Uint8Array, readonly label: string) {
    this.der = Buffer.from(der);
    let asn: Certificate;
    try {
      this.x509 = new X509Certificate(this.der);
      asn = AsnConvert.parse(this.der, Certificate);
    } catch (cause) {
      throw new CertificateError('ERR_CERT_MALFORMED', `${label} is not a parseable X.509 certificate`, { cause });
    }
    const tbs = asn.tbsCertificate;
    this.publicKey = this.x509.publicKey;
    this.subject = readableName(this.x509.subject);
    this.issuer = readableName(this.x509.issuer);
    this.serial = this.x509.serialNumber.replace(/^0+(?=.)/, '').toUpperCase();
    const raw = rawNames(this.der);
    this.serialDer = raw.serial;
    this.subjectDer = raw.subject;
    this.issuerDer = raw.issuer;
    this.notBefore = tbs.validity.notBefore.getTime();
    this.notAfter = tbs.validity.notAfter.getTime();
    this.version = tbs.version + 1;
    let keyUsage: number | undefined;
    let extKeyUsage: string[] | undefined;
    let basicConstraints: ParsedCertificate['basicConstraints'];
    let subjectKeyId: Buffer | undefined;
    let nsCertType: number | undefined;
    let nameConstraints: NameConstraints | undefined;
    let altDirectoryNames: readonly Uint8Array[] = [];
    const unsupportedCritical: string[] = [];
    try {
      for (const ext of tbs.extensions ?? []) {
        const value = ext.extnValue.buffer;
        if (ext.critical && !SUPPORTED_CRITICAL.has(ext.extnID)) unsupportedCritical.push(ext.extnID);
        switch (ext.extnID) {
          case id_ce_keyUsage:
            keyUsage = AsnConvert.parse(value, KeyUsage).toNumber();
            break;
          case id_ce_extKeyUsage:
            extKeyUsage = [...AsnConvert.parse(value, ExtendedKeyUsage)];
            break;
          case id_ce_basicConstraints: {
            const bc = AsnConvert.parse(value, BasicConstraints);
            basicConstraints = { ca: bc.cA, pathLength: bc.pathLenConstraint };
            break;
          }
          case id_ce_subjectKeyIdentifier:
            subjectKeyId = Buffer.from(AsnConvert.parse(value, OctetString).buffer);
            break;
          case OID_NS_CERT_TYPE: {
            const bits = new Uint8Array(value);
            if (bits[0] !== 0x03 || bits.length < 3) throw new Error('nsCertType is not a BIT STRING');
            nsCertType = bits.length > 3 ? bits[3]! : 0;
            break;
          }
          case OID_NAME_CONSTRAINTS:
            nameConstraints = parseNameConstraints(new Uint8Array(value));
            break;
          case OID_SUBJECT_ALT_NAME:
            altDirectoryNames = subjectAltDirectoryNames(new Uint8Array(value));
            break;
        }
      }
    } catch (cause) {
      throw new CertificateError('ERR_CERT_MALFORMED', `${label} (${this.subject}) has an extension that cannot be parsed`, { cause });
    }
    this.keyUsage = keyUsage;
    this.extKeyUsage = extKeyUsage;
    this.basicConstraints = basicConstraints;
    this.subjectKeyId = subjectKeyId;
    this.unsupportedCritical = unsupportedCritical;
    this.nsCertType = nsCertType;
    this.nameConstraints = nameConstraints;
    this.subjectAltDirectoryNames = altDirectoryNames;
  }

  /** The subject and the issuer are the same name. */
  get selfIssued(): boolean {
    return this.subjectDer.equals(this.issuerDer);
  }

  hasKeyUsage(flag: KeyUsageFlags): boolean {
    return this.keyUsage === undefined || (this.keyUsage & flag) !== 0;
  }

  /** Readable key usage list, e.g. "keyEncipherment". */
  describeKeyUsage(): string {
    if (this.keyUsage === undefined) return 'absent';
    return Object.entries(KeyUsageFlags)
      .filter(([, bit]) => typeof bit === 'number' && (this.keyUsage! & bit) !== 0)
      .map(([name]) => name)
      .join(', ') || 'empty';
  }

  describeExtKeyUsage(): string {
    if (this.extKeyUsage === undefined) return 'absent';
    return this.extKeyUsage.map((oid) => EKU_NAMES[oid] ?? oid).join(', ') || 'empty';
  }
}

/** The serial number and the Names as they are encoded in the certificate (what CMS sids are compared with). */
function rawNames(der: Buffer): { serial: Buffer; issuer: Buffer; subject: Buffer } {
  const certificate = DerReader.inside(der, new DerReader(der).expect(TAG_SEQUENCE, 'Certificate'));
  const tbs = DerReader.inside(der, certificate.expect(TAG_SEQUENCE, 'TBSCertificate'));
  tbs.optional(TAG_CONTEXT_0);
  const serial = Buffer.from(value(der, tbs.expect(TAG_INTEGER, 'serialNumber')));
  tbs.expect(TAG_SEQUENCE, 'signature');
  const issuer = Buffer.from(whole(der, tbs.expect(TAG_SEQUENCE, 'issuer')));
  tbs.expect(TAG_SEQUENCE, 'validity');
  const subject = Buffer.from(whole(der, tbs.expect(TAG_SEQUENCE, 'subject')));
  return { serial, issuer, subject };
}

function readableName(multiline: string): string {
  return multiline.split('\n').join(', ');
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;

/** Parses every certificate of a PEM bundle (or a single DER certificate). */
export function parseCertificates(input: string | Uint8Array, label: string): ParsedCertificate[] {
  if (typeof input !== 'string') {
    if (input.length > 0 && input[0] === 0x30) return [new ParsedCertificate(input, label)];
    input = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  }
  const certificates: ParsedCertificate[] = [];
  for (const match of input.matchAll(PEM_CERT)) {
    const der = Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64');
    certificates.push(new ParsedCertificate(der, certificates.length === 0 ? label : `${label} #${certificates.length + 1}`));
  }
  if (certificates.length === 0) {
    throw new CertificateError('ERR_CERT_MISSING', `${label} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
  }
  return certificates;
}
