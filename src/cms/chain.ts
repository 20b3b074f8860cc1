import { KeyUsageFlags } from '@peculiar/asn1-x509';
import { CertificateError } from '../errors.js';
import { EKU_EMAIL_PROTECTION, type ParsedCertificate } from './certificate.js';

const MAX_DEPTH = 10;

/**
 * Builds and checks the path from the signing certificate to a self-signed root among the CA certificates,
 * deciding as `openssl cms -verify -CAfile` does with its default S/MIME signing purpose:
 * - each certificate is signed by the next; the last is self-issued and is one of the CA certificates;
 * - CA certificates are CAs (basicConstraints CA:TRUE, or keyCertSign), within their pathlen;
 * - no certificate carries a critical extension OpenSSL does not understand;
 * - purposes: an extendedKeyUsage, where present on any certificate of the path, includes emailProtection
 *   (OpenSSL 3 does not count anyExtendedKeyUsage); the signer's keyUsage, where present, includes
 *   digitalSignature or nonRepudiation.
 * Validity dates depend on the time and are checked by `checkValidity`.
 * Returns the path, signer first.
 */
export function buildChain(signer: ParsedCertificate, caCerts: ParsedCertificate[]): ParsedCertificate[] {
  checkSignerPurpose(signer);
  const chain = [signer];
  let current = signer;
  while (!isTrustAnchor(current, caCerts)) {
    if (chain.length > MAX_DEPTH) {
      throw new CertificateError('ERR_CERT_UNTRUSTED', `certificate path from ${signer.subject} is longer than ${MAX_DEPTH} certificates`);
    }
    const issuer = findIssuer(current, caCerts);
    if (!issuer) {
      throw new CertificateError(
        'ERR_CERT_UNTRUSTED',
        current === signer
          ? `signing certificate ${signer.subject} was issued by ${signer.issuer}, which is not among the CA certificates; fetch the CA certificate (cacert.pem) from the same identity server as the signing certificate`
          : `certificate ${current.subject} in the path of ${signer.subject} was issued by ${current.issuer}, which is not among the CA certificates; the CA file must hold the whole chain up to a self-signed root`,
      );
    }
    checkCa(issuer, chain.length);
    if (!current.x509.verify(issuer.publicKey)) {
      throw new CertificateError(
        'ERR_CERT_SIGNATURE',
        `certificate ${current.subject} names ${issuer.subject} as issuer but its signature does not verify with that CA's key; the CA file does not belong with this signing certificate`,
      );
    }
    chain.push(issuer);
    current = issuer;
  }
  return chain;
}

/** A self-signed certificate that is itself one of the CA certificates. */
function isTrustAnchor(certificate: ParsedCertificate, caCerts: ParsedCertificate[]): boolean {
  return (
    certificate.selfIssued &&
    certificate.x509.checkIssued(certificate.x509) &&
    caCerts.some((ca) => ca.der.equals(certificate.der))
  );
}

function findIssuer(certificate: ParsedCertificate, caCerts: ParsedCertificate[]): ParsedCertificate | undefined {
  const candidates = caCerts.filter((ca) => ca.subjectDer.equals(certificate.issuerDer) && certificate.x509.checkIssued(ca.x509));
  // Prefer a candidate whose key verifies the signature (two CAs may share a name after a CA rotation).
  return candidates.find((ca) => certificate.x509.verify(ca.publicKey)) ?? candidates[0];
}

function rejectUnsupportedCritical(certificate: ParsedCertificate, role: string): void {
  if (certificate.unsupportedCritical.length > 0) {
    throw new CertificateError(
      'ERR_CERT_CRITICAL_EXTENSION',
      `${role} ${certificate.subject} has a critical extension that cannot be processed (${certificate.unsupportedCritical.join(', ')})`,
    );
  }
}

function rejectWrongExtKeyUsage(certificate: ParsedCertificate, role: string): void {
  if (certificate.extKeyUsage && !certificate.extKeyUsage.includes(EKU_EMAIL_PROTECTION)) {
    throw new CertificateError(
      'ERR_CERT_PURPOSE',
      `${role} ${certificate.subject} extendedKeyUsage is ${certificate.describeExtKeyUsage()} only; a token signing certificate and its CAs need emailProtection or no extendedKeyUsage at all; reissue the certificate (keystone-manage pki_setup makes one without extendedKeyUsage)`,
    );
  }
}

function checkSignerPurpose(signer: ParsedCertificate): void {
  rejectUnsupportedCritical(signer, 'signing certificate');
  rejectWrongExtKeyUsage(signer, 'signing certificate');
  if (!signer.hasKeyUsage(KeyUsageFlags.digitalSignature) && !signer.hasKeyUsage(KeyUsageFlags.nonRepudiation)) {
    throw new CertificateError(
      'ERR_CERT_PURPOSE',
      `signing certificate ${signer.subject} keyUsage is ${signer.describeKeyUsage()}; a token signing certificate needs digitalSignature or nonRepudiation; reissue it with keyUsage = digitalSignature, nonRepudiation`,
    );
  }
}

/** X509_check_ca as OpenSSL decides it, plus pathlen. `depth` is the issuer's index in the path (1 = signer's issuer). */
function checkCa(ca: ParsedCertificate, depth: number): void {
  rejectUnsupportedCritical(ca, 'CA certificate');
  rejectWrongExtKeyUsage(ca, 'CA certificate');
  const keyUsageAllowsSigning = ca.keyUsage === undefined || (ca.keyUsage & KeyUsageFlags.keyCertSign) !== 0;
  let isCa: boolean;
  if (!keyUsageAllowsSigning) isCa = false;
  else if (ca.basicConstraints) isCa = ca.basicConstraints.ca;
  else isCa = (ca.version === 1 && ca.selfIssued) || ca.keyUsage !== undefined;
  if (!isCa) {
    throw new CertificateError(
      'ERR_CERT_NOT_CA',
      `certificate ${ca.subject} issued the next certificate of the path but is not a CA (basicConstraints ${ca.basicConstraints ? `CA:${ca.basicConstraints.ca}` : 'absent'}, keyUsage ${ca.describeKeyUsage()})`,
    );
  }
  const pathLength = ca.basicConstraints?.pathLength;
  // Intermediates below this CA: depth - 1. OpenSSL does not count self-issued ones; neither do we.
  if (pathLength !== undefined && depth > 1 && !ca.selfIssued && depth - 1 > pathLength) {
    throw new CertificateError(
      'ERR_CERT_PATH_LENGTH',
      `CA certificate ${ca.subject} allows ${pathLength} intermediate CA(s) below it (pathlen) but the path has ${depth - 1}`,
    );
  }
}

/** Every certificate of the path must be valid at `now`. */
export function checkValidity(chain: ParsedCertificate[], now: Date): void {
  const time = now.getTime();
  for (let i = 0; i < chain.length; i++) {
    const certificate = chain[i]!;
    const role = i === 0 ? 'signing certificate' : 'CA certificate';
    if (time > certificate.notAfter.getTime()) {
      throw new CertificateError(
        'ERR_CERT_EXPIRED',
        `${role} ${certificate.subject} expired on ${iso(certificate.notAfter)}; ${i === 0 ? 'fetch a fresh one from the identity server, and make the identity server sign with a valid certificate' : 'the identity server must serve a CA file whose certificates are valid'}`,
      );
    }
    if (time < certificate.notBefore.getTime()) {
      throw new CertificateError(
        'ERR_CERT_NOT_YET_VALID',
        `${role} ${certificate.subject} is not valid before ${iso(certificate.notBefore)}; check this machine's clock`,
      );
    }
  }
}

function iso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
