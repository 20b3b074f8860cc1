import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createSign } from 'node:crypto';
import { KeystoneAuthError, verifySignedToken } from '../../src/index.js';
import { encodeOid, encodeTlv, sequence, set } from '../../src/cms/der.js';
import { tokenToDer } from '../../src/token/format.js';
import { FIXTURES, pki, pkiPath, token } from '../helpers/fixtures.js';
import { derToPem, opensslAvailable, opensslVerify } from '../helpers/openssl.js';
import { CA_EXTENSIONS, OpensslPki, SIGNER_EXTENSIONS, type OpensslCertificate } from '../helpers/openssl-pki.js';
import { build, partsOf } from '../helpers/variants.js';

/**
 * Certificate paths and CMS structures where a verifier's rules are easy to get subtly wrong, each decided by
 * `openssl cms -verify` (the command keystonemiddleware ran) and by this library. Certificates are made by the
 * openssl command line and tokens signed by `openssl cms -sign` at test time; CMS structures are edits of tokens
 * openssl signed. Every decision must agree, except the refusals listed in DELIBERATE (never an acceptance).
 */

/** Where this library refuses what openssl accepts, on purpose, and why. */
const NAME_CONSTRAINTS_OTHER_KINDS = 'nameConstraints of kinds other than directoryName (DNS, email, IP, URI) are refused rather than evaluated: openssl reads a commonName as a host name and emailAddress attributes as mail addresses under them, and keystone-manage pki_setup never made a name-constrained CA';
const DELIBERATE: Record<string, string> = {
  'nameConstraints: permitted DNS, CN a hostname inside': NAME_CONSTRAINTS_OTHER_KINDS,
  'nameConstraints: permitted DNS, CN not a hostname': NAME_CONSTRAINTS_OTHER_KINDS,
  'nameConstraints: permitted email, emailAddress inside': NAME_CONSTRAINTS_OTHER_KINDS,
  'nameConstraints: permitted IP, signer has no address': NAME_CONSTRAINTS_OTHER_KINDS,
  'signed attributes: one Attribute re-encoded with a non-minimal length':
    'openssl re-encodes signed attributes to DER before checking, so a BER re-encoding of signed bytes passes there; we verify the bytes as carried and require DER, as RFC 5652 asks of signed attributes',
  'certificates field: an attribute certificate ([1])':
    'Keystone tokens carry no certificates; only X.509 certificates are parsed in that field, anything else is refused',
};

interface Case {
  label: string;
  pem: string;
  signing: string;
  ca: string;
}

const BODY = readFileSync(`${FIXTURES}bodies/v3.json`, 'utf8');

function pathCases(): Case[] {
  const pki = new OpensslPki();
  const cases: Case[] = [];
  let n = 0;
  /** root -> [intermediate] -> signer, the CA file holding root and intermediate unless said otherwise. */
  const path = (label: string, spec: {
    root?: string; rootSections?: string; rootV1?: boolean;
    intermediate?: string | false; intermediateSections?: string;
    signer?: string; signerSections?: string; signerSubject?: string;
    signingFile?: (c: { root: OpensslCertificate; intermediate?: OpensslCertificate; signer: OpensslCertificate }) => OpensslCertificate[];
    caFile?: (c: { root: OpensslCertificate; intermediate?: OpensslCertificate; signer: OpensslCertificate }) => OpensslCertificate[];
  }) => {
    const id = `c${n++}`;
    const root = pki.issue(`${id}-root`, { subject: `/O=Test ${id}/CN=Root CA`, extensions: spec.root ?? CA_EXTENSIONS, sections: spec.rootSections, v1: spec.rootV1 });
    const intermediate = spec.intermediate === false ? undefined : pki.issue(`${id}-int`, { subject: `/O=Test ${id}/CN=Intermediate CA`, issuer: root, extensions: spec.intermediate ?? CA_EXTENSIONS, sections: spec.intermediateSections });
    const signer = pki.issue(`${id}-signer`, { subject: spec.signerSubject ?? `/O=Test ${id}/CN=www.example.com`, issuer: intermediate ?? root, extensions: spec.signer ?? SIGNER_EXTENSIONS, sections: spec.signerSections });
    const all = { root, intermediate, signer };
    const signing = pki.bundle(`${id}-signing.pem`, spec.signingFile?.(all) ?? [signer]);
    const ca = pki.bundle(`${id}-ca.pem`, spec.caFile?.(all) ?? [root, ...(intermediate ? [intermediate] : [])]);
    cases.push({ label, pem: pki.sign(signer, BODY), signing, ca });
  };
  const caWith = (extra: string) => `basicConstraints = critical, CA:TRUE, ${extra}\nkeyUsage = critical, keyCertSign, cRLSign`;

  path('plain root -> intermediate -> signer', {});
  path('pathlen: root pathlen:0 over an intermediate', { root: caWith('pathlen:0') });
  path('pathlen: root pathlen:0, signer directly under it', { root: caWith('pathlen:0'), intermediate: false });
  path('pathlen: root pathlen:1 over an intermediate', { root: caWith('pathlen:1') });
  path('pathlen: intermediate pathlen:0 over the signer', { intermediate: caWith('pathlen:0') });

  const constrained = (constraint: string, sections = '') => ({ root: `${CA_EXTENSIONS}\nnameConstraints = critical, ${constraint}`, rootSections: sections });
  path('nameConstraints: permitted dirName, signer inside', { ...constrained('permitted;dirName:nc_dn', '[nc_dn]\nO = Allowed\n'), intermediate: false, signerSubject: '/O=Allowed/CN=Keystone Signing' });
  path('nameConstraints: permitted dirName, signer outside', { ...constrained('permitted;dirName:nc_dn', '[nc_dn]\nO = Allowed\n'), intermediate: false, signerSubject: '/O=Other/CN=Keystone Signing' });
  path('nameConstraints: permitted dirName, intermediate outside', { ...constrained('permitted;dirName:nc_dn', '[nc_dn]\nO = Allowed\n'), signerSubject: '/O=Allowed/CN=Keystone Signing' });
  path('nameConstraints: excluded dirName, signer inside', { ...constrained('excluded;dirName:nc_dn', '[nc_dn]\nO = Banned\n'), intermediate: false, signerSubject: '/O=Banned/CN=Keystone Signing' });
  path('nameConstraints: excluded dirName, signer inside in other case and spacing', { ...constrained('excluded;dirName:nc_dn', '[nc_dn]\nO = Banned\n'), intermediate: false, signerSubject: '/O=  BANNED /CN=Keystone Signing' });
  path('nameConstraints: excluded dirName, signer outside', { ...constrained('excluded;dirName:nc_dn', '[nc_dn]\nO = Banned\n'), intermediate: false, signerSubject: '/O=Fine/CN=Keystone Signing' });
  path('nameConstraints: permitted DNS, CN a hostname outside', { ...constrained('permitted;DNS:example.org'), intermediate: false, signerSubject: '/O=X/CN=www.example.com' });
  path('nameConstraints: permitted DNS, CN a hostname inside', { ...constrained('permitted;DNS:example.com'), intermediate: false, signerSubject: '/O=X/CN=www.example.com' });
  path('nameConstraints: permitted DNS, CN not a hostname', { ...constrained('permitted;DNS:example.org'), intermediate: false, signerSubject: '/O=X/CN=Keystone Signing' });
  path('nameConstraints: excluded DNS, CN a hostname inside', { ...constrained('excluded;DNS:example.com'), intermediate: false, signerSubject: '/O=X/CN=www.example.com' });
  path('nameConstraints: permitted email, emailAddress outside', { ...constrained('permitted;email:example.org'), intermediate: false, signerSubject: '/O=X/CN=Keystone Signing/emailAddress=keystone@example.com' });
  path('nameConstraints: permitted email, emailAddress inside', { ...constrained('permitted;email:example.com'), intermediate: false, signerSubject: '/O=X/CN=Keystone Signing/emailAddress=keystone@example.com' });
  path('nameConstraints: permitted IP, signer has no address', { ...constrained('permitted;IP:10.0.0.0/255.0.0.0'), intermediate: false, signerSubject: '/O=X/CN=Keystone Signing' });
  path('nameConstraints: permitted dirName, signer SAN DNS outside', { ...constrained('permitted;DNS:example.org'), intermediate: false, signerSubject: '/O=X/CN=Keystone Signing', signer: `${SIGNER_EXTENSIONS}\nsubjectAltName = DNS:keystone.example.com` });

  path('nsCertType: signer server only', { signer: `${SIGNER_EXTENSIONS}\nnsCertType = server` });
  path('nsCertType: signer client', { signer: `${SIGNER_EXTENSIONS}\nnsCertType = client` });
  path('nsCertType: signer email', { signer: `${SIGNER_EXTENSIONS}\nnsCertType = email` });
  path('nsCertType: signer objsign', { signer: `${SIGNER_EXTENSIONS}\nnsCertType = objsign` });
  path('nsCertType: CA with basicConstraints, sslCA only', { intermediate: `${CA_EXTENSIONS}\nnsCertType = sslCA` });
  path('nsCertType: CA without basicConstraints or keyUsage, emailCA', { intermediate: 'nsCertType = emailCA' });
  path('nsCertType: CA without basicConstraints or keyUsage, sslCA', { intermediate: 'nsCertType = sslCA' });
  path('CA: keyUsage keyCertSign, no basicConstraints (intermediate)', { intermediate: 'keyUsage = critical, keyCertSign, cRLSign' });
  path('CA: keyUsage keyCertSign, no basicConstraints (root)', { root: 'keyUsage = critical, keyCertSign, cRLSign', intermediate: false });
  path('CA: no extensions, v3 (intermediate)', { intermediate: 'subjectKeyIdentifier = hash' });
  path('CA: v1 root', { rootV1: true, intermediate: false });
  path('CA: basicConstraints CA:FALSE with keyCertSign (intermediate)', { intermediate: 'basicConstraints = CA:FALSE\nkeyUsage = keyCertSign' });

  path('signing file: signer and its intermediate, CA file the root only', {
    signingFile: ({ signer, intermediate }) => [signer, intermediate!],
    caFile: ({ root }) => [root],
  });
  path('signing file: signer, intermediate and self-signed root, CA file an unrelated CA', {
    signingFile: ({ signer, intermediate, root }) => [signer, intermediate!, root],
    caFile: () => [pki.issue(`unrelated${n}`, { subject: '/CN=Unrelated CA', extensions: CA_EXTENSIONS })],
  });
  path('signing file: signer directly under a root it carries, CA file an unrelated CA', {
    intermediate: false,
    signingFile: ({ signer, root }) => [signer, root],
    caFile: () => [pki.issue(`unrelated${n}`, { subject: '/CN=Unrelated CA 2', extensions: CA_EXTENSIONS })],
  });

  // Self-signed signing certificates.
  const selfSigned = (label: string, extensions: string, inCaFile: boolean) => {
    const signer = pki.issue(`self${n++}`, { subject: `/O=Self ${n}/CN=Keystone Signing`, extensions });
    const other = pki.issue(`selfca${n}`, { subject: `/O=Self ${n}/CN=Some CA`, extensions: CA_EXTENSIONS });
    cases.push({ label, pem: pki.sign(signer, BODY), signing: signer.path, ca: pki.bundle(`self${n}-ca.pem`, inCaFile ? [other, signer] : [other]) });
  };
  selfSigned('self-signed signer in the CA file, keyUsage digitalSignature', SIGNER_EXTENSIONS, true);
  selfSigned('self-signed signer in the CA file, no extensions', 'subjectKeyIdentifier = hash', true);
  selfSigned('self-signed signer in the CA file, CA:TRUE with digitalSignature and keyCertSign', 'basicConstraints = critical, CA:TRUE\nkeyUsage = digitalSignature, keyCertSign', true);
  selfSigned('self-signed signer not in the CA file', SIGNER_EXTENSIONS, false);
  return cases;
}

/** Edits of tokens openssl signed (the fixtures): parts no signature covers, and signed attributes re-signed. */
function structureCases(): Case[] {
  const cases: Case[] = [];
  const rsa = { signing: pkiPath('signing-rsa.pem'), ca: pkiPath('ca-chain.pem') };
  const add = (label: string, der: Uint8Array, material = rsa) => cases.push({ label, pem: derToPem(der), ...material });
  const base = tokenToDer(token('v3-rsa-sha256', 'pki'));
  const edit = (change: (parts: ReturnType<typeof partsOf>) => void, der: Uint8Array = base) => {
    const parts = partsOf(der);
    change(parts);
    return build(parts);
  };
  const alg = (oid: string, withNull = false) => sequence(encodeOid(oid), ...(withNull ? [Buffer.from([0x05, 0x00])] : []));
  const SHA1 = '1.3.14.3.2.26';
  const SHA256 = '2.16.840.1.101.3.4.2.1';
  add('rebuilt unchanged', edit(() => {}));
  add('digestAlgorithms: empty', edit((p) => (p.digests = [])));
  add('digestAlgorithms: sha1 only, signer uses sha256', edit((p) => (p.digests = [alg(SHA1)])));
  add('digestAlgorithms: sha1 and sha256', edit((p) => (p.digests = [alg(SHA1), alg(SHA256)])));
  add('digestAlgorithms: sha256 with NULL parameters', edit((p) => (p.digests = [alg(SHA256, true)])));

  const signerCert = Buffer.from(pki('signing-rsa.pem').replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, ''), 'base64');
  add('certificates field: the signing certificate', edit((p) => (p.certificates = encodeTlv(0xa0, signerCert))));
  add('certificates field: empty', edit((p) => (p.certificates = encodeTlv(0xa0, Buffer.alloc(0)))));
  add('certificates field: an OCTET STRING', edit((p) => (p.certificates = encodeTlv(0xa0, encodeTlv(0x04, Buffer.from('garbage'))))));
  add('certificates field: a SEQUENCE of garbage', edit((p) => (p.certificates = encodeTlv(0xa0, sequence(encodeTlv(0x04, Buffer.from('garbage')))))));
  add('certificates field: a truncated certificate inside a well-formed SEQUENCE', edit((p) => (p.certificates = encodeTlv(0xa0, sequence(signerCert.subarray(4, 200))))));
  add('certificates field: an attribute certificate ([1])', edit((p) => (p.certificates = encodeTlv(0xa0, encodeTlv(0xa1, sequence(encodeTlv(0x02, Buffer.from([1]))))))));
  add('crls field: a SEQUENCE of garbage', edit((p) => (p.crls = encodeTlv(0xa1, sequence(encodeTlv(0x04, Buffer.from('garbage')))))));

  // RSASSA-PSS parameters: not covered by the signature without signed attributes.
  const rsaSigner = { name: 'signing-rsa', pem: pki('signing-rsa.pem'), path: pkiPath('signing-rsa.pem'), keyPath: pkiPath('signing-rsa.key') };
  const pssPem = new OpensslPki().sign(rsaSigner, BODY, ['-noattr', '-keyopt', 'rsa_padding_mode:pss', '-keyopt', 'rsa_pss_saltlen:32']);
  const pss = tokenToDer(pssPem);
  add('RSA-PSS: as openssl signed it (salt 32)', pss);
  const pssParams = (params: Buffer) => edit((p) => (p.signers[0]!.signatureAlgorithm = sequence(encodeOid('1.2.840.113549.1.1.10'), params)), pss);
  const hash = encodeTlv(0xa0, alg(SHA256));
  const mgf = encodeTlv(0xa1, sequence(encodeOid('1.2.840.113549.1.1.8'), alg(SHA256)));
  const salt = (bytes: number[]) => encodeTlv(0xa2, encodeTlv(0x02, Buffer.from(bytes)));
  const trailer = (bytes: number[]) => encodeTlv(0xa3, encodeTlv(0x02, Buffer.from(bytes)));
  add('RSA-PSS: parameters re-encoded as openssl writes them', pssParams(sequence(hash, mgf, salt([32]))));
  add('RSA-PSS: saltLength non-minimal (00 20)', pssParams(sequence(hash, mgf, salt([0, 32]))));
  add('RSA-PSS: saltLength -1', pssParams(sequence(hash, mgf, salt([0xff]))));
  add('RSA-PSS: saltLength -2', pssParams(sequence(hash, mgf, salt([0xfe]))));
  add('RSA-PSS: trailerField 1 written out', pssParams(sequence(hash, mgf, salt([32]), trailer([1]))));
  add('RSA-PSS: trailerField 2', pssParams(sequence(hash, mgf, salt([32]), trailer([2]))));
  add('RSA-PSS: trailerField 1 non-minimal', pssParams(sequence(hash, mgf, salt([32]), trailer([0, 1]))));

  // Signed attributes: openssl-signed (sorted as DER), then reordered or re-encoded; or re-signed by us over other bytes.
  const attrs = tokenToDer(token('v3-rsa-attrs', 'pki'));
  const key = readFileSync(pkiPath('signing-rsa.key'), 'utf8');
  const attributesOf = (der: Uint8Array) => partsOf(der).signers[0]!.attributes!;
  const elements = (wrapped: Buffer): Buffer[] => {
    const list: Buffer[] = [];
    let at = wrapped[1]! & 0x80 ? 2 + (wrapped[1]! & 0x7f) : 2;
    while (at < wrapped.length) {
      const len = wrapped[at + 1]! & 0x80 ? wrapped.readUIntBE(at + 2, wrapped[at + 1]! & 0x7f) + 2 + (wrapped[at + 1]! & 0x7f) : wrapped[at + 1]! + 2;
      list.push(wrapped.subarray(at, at + len));
      at += len;
    }
    return list;
  };
  const original = elements(attributesOf(attrs));
  const withAttributes = (list: Buffer[], signOver?: Buffer) =>
    edit((p) => {
      const s = p.signers[0]!;
      s.attributes = encodeTlv(0xa0, Buffer.concat(list));
      if (signOver) s.signature = createSign('sha256').update(signOver).sign(key);
    }, attrs);
  add('signed attributes: as openssl signed them', withAttributes(original));
  add('signed attributes: reordered after signing', withAttributes([...original].reverse()));
  const longForm = (tlv: Buffer) => Buffer.concat([Buffer.from([tlv[0]!, 0x81, tlv[1]!]), tlv.subarray(2)]);
  add('signed attributes: one Attribute re-encoded with a non-minimal length', withAttributes([longForm(original[0]!), ...original.slice(1)]));
  const reordered = [...original].reverse();
  add('signed attributes: signed in the order carried, not sorted', withAttributes(reordered, set(...reordered)));
  const ber = [longForm(original[0]!), ...original.slice(1)];
  add('signed attributes: signed over a non-minimal length', withAttributes(ber, set(...ber)));
  return cases;
}

test('certificate paths and CMS structures: decisions equal `openssl cms -verify`, stricter only where listed', async (t) => {
  if (!opensslAvailable()) {
    t.diagnostic('openssl is not installed: .ci/run installs it');
    assert.fail('openssl is required for this conformance test');
  }
  const all = [...pathCases(), ...structureCases()];
  let agreed = 0;
  const deliberate: string[] = [];
  const disagreements: string[] = [];
  const rows: string[] = [];
  for (const c of all) {
    let ours = 'accept';
    try {
      verifySignedToken(c.pem, { signingCert: readFileSync(c.signing, 'utf8'), caCerts: readFileSync(c.ca, 'utf8') });
    } catch (error) {
      assert.ok(error instanceof KeystoneAuthError, `${c.label}: untyped error ${error}`);
      ours = error.code;
    }
    const reference = await opensslVerify(c.pem, c.signing, c.ca);
    const theirs = reference.ok ? 'accept' : (reference.stderr.match(/error:[^\n]*|Verify error:[^\n]*/)?.[0] ?? 'reject').slice(0, 90);
    rows.push(`${(ours === 'accept') === reference.ok ? '  ' : '!!'} ${c.label}: ours=${ours} openssl=${theirs}`);
    if ((ours === 'accept') === reference.ok) agreed++;
    else if (reference.ok && DELIBERATE[c.label]) deliberate.push(c.label);
    else disagreements.push(`${c.label}: ours=${ours} openssl=${theirs}`);
  }
  if (process.env.KAT_VERBOSE) console.log(rows.join('\n'));
  const summary = `openssl path/structure conformance: ${agreed} of ${all.length} decisions agree, ${deliberate.length} deliberately stricter, ${disagreements.length} disagreement(s)`;
  t.diagnostic(summary);
  console.log(summary);
  assert.deepEqual(disagreements, []);
  assert.ok(all.length >= 50, `ran ${all.length} cases`);
});
