import { createHash, createPrivateKey, generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { parseCertificates } from '../cms/certificate.js';
import { promisify } from 'node:util';
import { encodeOid, encodeTlv, encodeUnsignedInteger, sequence, set } from '../cms/der.js';

const generate = promisify(generateKeyPair);

/** A certificate with its private key, as PEM and as objects. */
export interface TestCertificate {
  pem: string;
  der: Buffer;
  privateKey: KeyObject;
  publicKey: KeyObject;
  subject: string;
  /** Serial number bytes (big-endian, positive). */
  serial: Buffer;
  /** DER of the subject Name (what tokens name as issuer of their signer, one level up). */
  subjectName: Buffer;
  issuerName: Buffer;
}

export interface CertificateSpec {
  commonName: string;
  /** The subject Name as DER, kept as is (e.g. to reissue a certificate under the same subject); overrides commonName and organization. */
  subjectName?: Buffer;
  /** The readable form of `subjectName`, when it is given. */
  subject?: string;
  organization?: string;
  issuer?: TestCertificate;
  ca?: boolean;
  notBefore?: Date;
  notAfter?: Date;
  /** extendedKeyUsage OIDs; omitted = no extension (what keystone-manage pki_setup made). */
  extKeyUsage?: string[];
  /** keyUsage bits, as KeyUsage names. Default: CA → keyCertSign, cRLSign; else digitalSignature, nonRepudiation. */
  keyUsage?: KeyUsageName[];
  keyType?: 'rsa' | 'ec';
  /** Serial number bytes (default: 8 random bytes). */
  serial?: Buffer;
  /** subjectAltName entries, for TLS server certificates. */
  subjectAltNames?: { ip?: string[]; dns?: string[] };
}

export type KeyUsageName = 'digitalSignature' | 'nonRepudiation' | 'keyEncipherment' | 'dataEncipherment' | 'keyAgreement' | 'keyCertSign' | 'cRLSign';
const KEY_USAGE_BITS: Record<KeyUsageName, number> = {
  digitalSignature: 0, nonRepudiation: 1, keyEncipherment: 2, dataEncipherment: 3, keyAgreement: 4, keyCertSign: 5, cRLSign: 6,
};

const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';

function name(commonName: string, organization: string): Buffer {
  const rdn = (oid: string, value: string) => set(sequence(encodeOid(oid), encodeTlv(0x0c, Buffer.from(value, 'utf8'))));
  return sequence(rdn('2.5.4.10', organization), rdn('2.5.4.3', commonName));
}

function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z');
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050 ? encodeTlv(0x17, Buffer.from(iso.slice(2), 'ascii')) : encodeTlv(0x18, Buffer.from(iso, 'ascii'));
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return sequence(encodeOid(oid), ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []), encodeTlv(0x04, value));
}

function keyUsage(names: KeyUsageName[]): Buffer {
  let bits = 0;
  for (const usage of names) bits |= 1 << KEY_USAGE_BITS[usage];
  const bytes = bits > 0xff ? [bits & 0xff, bits >> 8] : [bits];
  const reversed = bytes.map((byte) => parseInt(byte.toString(2).padStart(8, '0').split('').reverse().join(''), 2));
  const last = reversed[reversed.length - 1]!;
  let unused = 0;
  while (unused < 7 && !(last & (1 << unused))) unused++;
  return encodeTlv(0x03, Buffer.from([unused, ...reversed]));
}

function keyId(publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha1').update(spki).digest();
}

function signWith(key: KeyObject, data: Buffer): { algorithm: Buffer; signature: Buffer } {
  if (key.asymmetricKeyType === 'ec') {
    return { algorithm: sequence(encodeOid(OID_ECDSA_SHA256)), signature: sign('sha256', data, { key, dsaEncoding: 'der' }) };
  }
  return { algorithm: sequence(encodeOid(OID_SHA256_WITH_RSA), Buffer.from([0x05, 0x00])), signature: sign('sha256', data, key) };
}

/** Issues an X.509 v3 certificate in TypeScript (no openssl needed). */
export async function issueCertificate(spec: CertificateSpec): Promise<TestCertificate> {
  const { privateKey, publicKey } =
    spec.keyType === 'ec' ? await generate('ec', { namedCurve: 'P-256' }) : await generate('rsa', { modulusLength: 2048 });
  const organization = spec.organization ?? 'keystone-authtoken testing';
  const subjectName = spec.subjectName ?? name(spec.commonName, organization);
  const issuerName = spec.issuer ? spec.issuer.subjectName : subjectName;
  const signerKey = spec.issuer ? spec.issuer.privateKey : privateKey;
  const serial = spec.serial ? Buffer.from(spec.serial) : randomBytes(8);
  if (!spec.serial) {
    serial[0]! &= 0x7f;
    serial[0]! |= 0x10;
  }
  const notBefore = spec.notBefore ?? new Date(Date.now() - 60 * 60 * 1000);
  const notAfter = spec.notAfter ?? new Date(Date.UTC(2099, 11, 31, 23, 59, 59));
  const ca = spec.ca ?? false;
  const extensions = [
    extension('2.5.29.19', ca, ca ? sequence(Buffer.from([0x01, 0x01, 0xff])) : sequence()),
    extension('2.5.29.15', true, keyUsage(spec.keyUsage ?? (ca ? ['keyCertSign', 'cRLSign'] : ['digitalSignature', 'nonRepudiation']))),
    extension('2.5.29.14', false, encodeTlv(0x04, keyId(publicKey))),
  ];
  if (spec.issuer) extensions.push(extension('2.5.29.35', false, sequence(encodeTlv(0x80, keyId(spec.issuer.publicKey)))));
  if (spec.subjectAltNames) {
    const names = [
      ...(spec.subjectAltNames.dns ?? []).map((dns) => encodeTlv(0x82, Buffer.from(dns, 'ascii'))),
      ...(spec.subjectAltNames.ip ?? []).map((ip) => encodeTlv(0x87, Buffer.from(ip.split('.').map(Number)))),
    ];
    extensions.push(extension('2.5.29.17', false, sequence(...names)));
  }
  if (spec.extKeyUsage) extensions.push(extension('2.5.29.37', false, sequence(...spec.extKeyUsage.map(encodeOid))));
  const algorithm = signWith(signerKey, Buffer.alloc(0)).algorithm;
  const tbs = sequence(
    encodeTlv(0xa0, encodeUnsignedInteger(Buffer.from([2]))),
    encodeUnsignedInteger(serial),
    algorithm,
    issuerName,
    sequence(time(notBefore), time(notAfter)),
    subjectName,
    publicKey.export({ type: 'spki', format: 'der' }),
    encodeTlv(0xa3, sequence(...extensions)),
  );
  const signed = signWith(signerKey, tbs);
  const der = sequence(tbs, signed.algorithm, encodeTlv(0x03, Buffer.concat([Buffer.from([0]), signed.signature])));
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  return { pem, der, privateKey, publicKey, subject: spec.subject ?? `CN=${spec.commonName}, O=${organization}`, serial: encodeUnsignedInteger(serial).subarray(2), subjectName, issuerName };
}

/** A root CA and a token signing certificate it issued, like `keystone-manage pki_setup` makes. */
export interface TestPki {
  ca: TestCertificate;
  signing: TestCertificate;
}

export async function createTestPki(options: { signingCommonName?: string; ca?: TestCertificate } = {}): Promise<TestPki> {
  const ca = options.ca ?? (await issueCertificate({ commonName: 'Keystone Test CA', ca: true }));
  const signing = await issueCertificate({ commonName: options.signingCommonName ?? 'Keystone Signing', issuer: ca });
  return { ca, signing };
}

/**
 * A certificate and its private key from PEM files (e.g. the signing_cert.pem and signing_key.pem of a
 * deployment's test Keystone), to mint tokens with a signer made elsewhere.
 */
export function certificateFromPem(certificatePem: string, privateKeyPem: string): TestCertificate {
  const parsed = parseCertificates(certificatePem, 'certificate')[0]!;
  const privateKey = createPrivateKey(privateKeyPem);
  return {
    pem: certificatePem,
    der: parsed.der,
    privateKey,
    publicKey: parsed.publicKey,
    subject: parsed.subject,
    serial: parsed.serialDer[0] === 0 && parsed.serialDer.length > 1 ? parsed.serialDer.subarray(1) : parsed.serialDer,
    subjectName: parsed.subjectDer,
    issuerName: parsed.issuerDer,
  };
}
