import { CertificateError } from '../errors.js';
import { DerError, DerReader, TAG_SEQUENCE, TAG_SET, encodeTlv, value, whole } from './der.js';

/**
 * X.509 nameConstraints, decided as OpenSSL's check_name_constraints does for directoryName subtrees: the subject
 * (and subjectAltName directoryNames) of every certificate below a constraining CA, self-issued intermediates
 * aside, compared by OpenSSL's canonical form of a Name (string values as UTF-8, ASCII lower-cased, spaces
 * trimmed and collapsed; each RDN a DER SET) with a byte-prefix match. Any other kind of subtree (DNS, email,
 * IP, URI, ...) makes the path refused: openssl reads a commonName as a host name and emailAddress attributes
 * as mail addresses under those, and a token signing path never needs them (keystone-manage pki_setup makes no
 * name-constrained CA). Deliberately stricter, never more lenient.
 */

/** One subtree: its GeneralName tag, the canonical Name of a directoryName, and whether it has minimum/maximum. */
export interface Subtree {
  tag: number;
  canonical?: Buffer;
  minMax: boolean;
}

export interface NameConstraints {
  permitted: Subtree[];
  excluded: Subtree[];
}

const TAG_DIRECTORY_NAME = 0xa4;
const GENERAL_NAME_KINDS: Record<number, string> = {
  0xa0: 'otherName', 0x81: 'rfc822Name (email)', 0x82: 'dNSName', 0xa3: 'x400Address', 0xa4: 'directoryName',
  0xa5: 'ediPartyName', 0x86: 'URI', 0x87: 'iPAddress', 0x88: 'registeredID',
};

/** Parses the extension value; a DerError propagates (the caller reports a malformed extension). */
export function parseNameConstraints(der: Uint8Array): NameConstraints {
  const outer = new DerReader(der);
  const reader = DerReader.inside(der, outer.expect(TAG_SEQUENCE, 'NameConstraints'));
  outer.end('NameConstraints');
  const result: NameConstraints = { permitted: [], excluded: [] };
  const permitted = reader.optional(0xa0);
  const excluded = reader.optional(0xa1);
  reader.end('NameConstraints');
  for (const [tlv, list] of [[permitted, result.permitted], [excluded, result.excluded]] as const) {
    if (!tlv) continue;
    const subtrees = DerReader.inside(der, tlv);
    while (!subtrees.done) {
      const subtree = DerReader.inside(der, subtrees.expect(TAG_SEQUENCE, 'GeneralSubtree'));
      const base = subtree.next();
      let minMax = false;
      while (!subtree.done) {
        const field = subtree.next();
        // minimum [0] DEFAULT 0 written out as 0 is tolerated, as OpenSSL's nc_minmax_valid does
        if (field.tag !== 0x80 || value(der, field).some((byte) => byte !== 0)) minMax = true;
      }
      const canonical = base.tag === TAG_DIRECTORY_NAME ? canonicalName(whole(der, DerReader.inside(der, base).expect(TAG_SEQUENCE, 'Name'))) : undefined;
      list.push({ tag: base.tag, canonical, minMax });
    }
  }
  return result;
}

/** The directoryName entries of a subjectAltName extension value, each the DER of a Name. */
export function subjectAltDirectoryNames(der: Uint8Array): Uint8Array[] {
  const outer = new DerReader(der);
  const names = DerReader.inside(der, outer.expect(TAG_SEQUENCE, 'GeneralNames'));
  const found: Uint8Array[] = [];
  while (!names.done) {
    const name = names.next();
    if (name.tag === TAG_DIRECTORY_NAME) found.push(whole(der, DerReader.inside(der, name).expect(TAG_SEQUENCE, 'Name')));
  }
  return found;
}

const STRING_TAGS = new Set([0x0c, 0x13, 0x14, 0x16, 0x1a, 0x1c, 0x1e]); // UTF8, Printable, T61, IA5, Visible, Universal, BMP
const isSpace = (byte: number) => byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);

function stringToUtf8(tag: number, contents: Uint8Array): Buffer {
  const bytes = Buffer.from(contents);
  if (tag === 0x0c) return bytes;
  if (tag === 0x1e) return Buffer.from(Buffer.from(bytes).swap16().toString('utf16le'), 'utf8');
  if (tag === 0x1c) {
    if (bytes.length % 4 !== 0) throw new DerError('UniversalString length is not a multiple of 4');
    let text = '';
    for (let i = 0; i < bytes.length; i += 4) text += String.fromCodePoint(bytes.readUInt32BE(i));
    return Buffer.from(text, 'utf8');
  }
  return Buffer.from(bytes.toString('latin1'), 'utf8'); // Printable, IA5, Visible, T61 (as OpenSSL reads it)
}

/** OpenSSL's asn1_string_canon: trimmed, inner whitespace runs as one space, ASCII lower-cased. */
function canonicalString(utf8: Buffer): Buffer {
  let start = 0;
  let end = utf8.length;
  while (start < end && isSpace(utf8[start]!)) start++;
  while (end > start && isSpace(utf8[end - 1]!)) end--;
  const out: number[] = [];
  for (let i = start; i < end; ) {
    const byte = utf8[i]!;
    if (byte >= 0x80) out.push(utf8[i++]!);
    else if (isSpace(byte)) {
      out.push(0x20);
      while (i < end && isSpace(utf8[i]!)) i++;
    } else {
      out.push(byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte);
      i++;
    }
  }
  return Buffer.from(out);
}

/** OpenSSL's canonical encoding of a Name (x509_name_canon): the RDN SETs, without the outer SEQUENCE. */
export function canonicalName(nameDer: Uint8Array): Buffer {
  const outer = new DerReader(nameDer);
  const rdns = DerReader.inside(nameDer, outer.expect(TAG_SEQUENCE, 'Name'));
  const parts: Buffer[] = [];
  while (!rdns.done) {
    const rdn = DerReader.inside(nameDer, rdns.expect(TAG_SET, 'RelativeDistinguishedName'));
    const entries: Buffer[] = [];
    while (!rdn.done) {
      const entry = DerReader.inside(nameDer, rdn.expect(TAG_SEQUENCE, 'AttributeTypeAndValue'));
      const type = whole(nameDer, entry.next());
      const valueTlv = entry.next();
      entry.end('AttributeTypeAndValue');
      const canonicalValue = STRING_TAGS.has(valueTlv.tag)
        ? encodeTlv(0x0c, canonicalString(stringToUtf8(valueTlv.tag, value(nameDer, valueTlv))))
        : Buffer.from(whole(nameDer, valueTlv));
      entries.push(encodeTlv(TAG_SEQUENCE, Buffer.concat([type, canonicalValue])));
    }
    parts.push(encodeTlv(TAG_SET, Buffer.concat(entries.sort(Buffer.compare))));
  }
  return Buffer.concat(parts);
}

/** What nameConstraints checking needs of a certificate. */
export interface ConstrainedSubject {
  subject: string;
  subjectDer: Buffer;
  selfIssued: boolean;
  subjectAltDirectoryNames: readonly Uint8Array[];
  nameConstraints: NameConstraints | undefined;
}

/** Checks every certificate of the path (signer first) against the nameConstraints of the CAs above it. */
export function checkNameConstraints(chain: readonly ConstrainedSubject[]): void {
  for (let i = chain.length - 1; i >= 0; i--) {
    const certificate = chain[i]!;
    if (i !== 0 && certificate.selfIssued) continue;
    for (let j = chain.length - 1; j > i; j--) {
      const constraints = chain[j]!.nameConstraints;
      if (constraints) checkOne(certificate, constraints, chain[j]!.subject);
    }
  }
}

function checkOne(certificate: ConstrainedSubject, constraints: NameConstraints, ca: string): void {
  const refuse = (why: string) => {
    throw new CertificateError('ERR_CERT_NAME_CONSTRAINTS', `certificate ${certificate.subject} is outside the nameConstraints of CA ${ca}: ${why}`);
  };
  for (const subtree of [...constraints.permitted, ...constraints.excluded]) {
    if (subtree.tag !== TAG_DIRECTORY_NAME) {
      refuse(`CA constrains ${GENERAL_NAME_KINDS[subtree.tag] ?? `GeneralName tag 0x${subtree.tag.toString(16)}`} names, which token signing paths are not checked against (refused rather than guessed; only directoryName constraints are evaluated)`);
    }
    if (subtree.minMax) refuse('a subtree has minimum or maximum, which X.509 forbids and OpenSSL refuses');
  }
  const names: Buffer[] = [];
  const subject = canonicalName(certificate.subjectDer);
  if (subject.length > 0) names.push(subject);
  for (const name of certificate.subjectAltDirectoryNames) names.push(canonicalName(name));
  const within = (name: Buffer, base: Buffer) => base.length <= name.length && name.subarray(0, base.length).equals(base);
  for (const name of names) {
    const permitted = constraints.permitted.filter((s) => s.tag === TAG_DIRECTORY_NAME);
    if (permitted.length > 0 && !permitted.some((s) => within(name, s.canonical!))) refuse('its name is in no permitted directoryName subtree');
    if (constraints.excluded.some((s) => s.tag === TAG_DIRECTORY_NAME && within(name, s.canonical!))) refuse('its name is in an excluded directoryName subtree');
  }
}
