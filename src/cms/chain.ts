import { KeyUsageFlags } from '@peculiar/asn1-x509';
import { CertificateError } from '../errors.js';
import { EKU_EMAIL_PROTECTION, NS_ANY_CA, NS_SMIME, NS_SMIME_CA, NS_SSL_CLIENT, type ParsedCertificate } from './certificate.js';
import { checkNameConstraints } from './name-constraints.js';

const MAX_DEPTH = 10;

/**
 * Builds and checks the path from the signing certificate to a self-signed root among the CA certificates,
 * deciding as `openssl cms -verify -CAfile` does with its default S/MIME signing purpose:
 * - each certificate is signed by the next; the last is self-issued and is one of the CA certificates;
 * - CA certificates are CAs as X509_check_ca decides; an intermediate needs basicConstraints CA:TRUE (OpenSSL 3
 *   applies X509_STRICT to intermediates), a root may also be a v1 root, carry keyCertSign, or an nsCertType CA
 *   bit (then S/MIME CA);
 * - pathlen, the root's included: a CA's pathlen counts the non-self-issued intermediates below it;
 * - nameConstraints (see name-constraints.ts);
 * - no certificate carries a critical extension OpenSSL does not understand;
 * - purposes: an extendedKeyUsage, where present on any certificate of the path, includes emailProtection
 *   (OpenSSL 3 does not count anyExtendedKeyUsage); the signer's keyUsage, where present, includes
 *   digitalSignature or nonRepudiation; the signer's nsCertType, where present, includes S/MIME (or SSL client,
 *   OpenSSL's workaround for old certificates).
 * Validity dates depend on the time and are checked by `checkValidity`.
 * Returns the path, signer first.
 */
export function buildChain(signer: ParsedCertificate, caCerts: ParsedCertificate[]): ParsedCertificate[] {
  checkSignerPurpose(signer);
  const chain = [signer];
  let current = signer;
  if (isTrustedSigner(signer, caCerts)) {
    checkNameConstraints(chain);
    return chain;
  }
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
    checkCa(issuer, chain, caCerts);
    if (!current.x509.verify(issuer.publicKey)) {
      throw new CertificateError(
        'ERR_CERT_SIGNATURE',
        `certificate ${current.subject} names ${issuer.subject} as issuer but its signature does not verify with that CA's key; the CA file does not belong with this signing certificate`,
      );
    }
    chain.push(issuer);
    current = issuer;
  }
  checkNameConstraints(chain);
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

/**
 * A self-signed signing certificate that is itself in the CA file is trusted as it is, as openssl trusts a
 * leaf found in its store: no CA rights are needed of it (its keyUsage may lack keyCertSign).
 */
function isTrustedSigner(signer: ParsedCertificate, caCerts: ParsedCertificate[]): boolean {
  return signer.selfIssued && caCerts.some((ca) => ca.der.equals(signer.der)) && signer.x509.verify(signer.publicKey);
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
  if (signer.nsCertType !== undefined && (signer.nsCertType & (NS_SMIME | NS_SSL_CLIENT)) === 0) {
    throw new CertificateError(
      'ERR_CERT_PURPOSE',
      `signing certificate ${signer.subject} has an nsCertType without S/MIME (email); openssl cms refuses it as a signer; reissue it without nsCertType`,
    );
  }
}

/**
 * X509_check_ca as OpenSSL 3 decides it for a CA of the path, then its purpose (S/MIME CA) and pathlen.
 * `below` is the path up to this CA's subject (signer first); the CA is the issuer of its last certificate.
 */
function checkCa(ca: ParsedCertificate, below: ParsedCertificate[], caCerts: ParsedCertificate[]): void {
  rejectUnsupportedCritical(ca, 'CA certificate');
  rejectWrongExtKeyUsage(ca, 'CA certificate');
  const isRoot = isTrustAnchor(ca, caCerts);
  let kind: 0 | 1 | 3 | 4 | 5;
  if (ca.keyUsage !== undefined && (ca.keyUsage & KeyUsageFlags.keyCertSign) === 0) kind = 0;
  else if (ca.basicConstraints) kind = ca.basicConstraints.ca ? 1 : 0;
  else if (ca.version === 1 && ca.selfIssued) kind = 3;
  else if (ca.keyUsage !== undefined) kind = 4;
  else if (ca.nsCertType !== undefined && (ca.nsCertType & NS_ANY_CA) !== 0) kind = 5;
  else kind = 0;
  if (kind === 0 || (!isRoot && kind !== 1)) {
    throw new CertificateError(
      'ERR_CERT_NOT_CA',
      `certificate ${ca.subject} issued the next certificate of the path but is not a CA (basicConstraints ${ca.basicConstraints ? `CA:${ca.basicConstraints.ca}` : 'absent'}, keyUsage ${ca.describeKeyUsage()}${isRoot ? '' : '; an intermediate CA needs basicConstraints CA:TRUE'})`,
    );
  }
  if (kind === 5 && (ca.nsCertType! & NS_SMIME_CA) === 0) {
    throw new CertificateError('ERR_CERT_PURPOSE', `CA certificate ${ca.subject} is a CA by nsCertType only, and not for S/MIME (emailCA)`);
  }
  const pathLength = ca.basicConstraints?.pathLength;
  // OpenSSL's plen: the certificates between the signer and this CA, self-issued ones not counted.
  const intermediates = below.slice(1).filter((certificate) => !certificate.selfIssued).length;
  if (pathLength !== undefined && below.length > 1 && intermediates > pathLength) {
    throw new CertificateError(
      'ERR_CERT_PATH_LENGTH',
      `CA certificate ${ca.subject} allows ${pathLength} intermediate CA(s) below it (pathlen) but the path has ${intermediates}`,
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
