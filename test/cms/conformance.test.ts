import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeystoneAuthError, verifySignedToken } from '../../src/index.js';
import { parseSignedData } from '../../src/cms/signed-data.js';
import { tokenToDer } from '../../src/token/format.js';
import { manifest, pki, pkiPath, token } from '../helpers/fixtures.js';
import { derToPem, derToPkiToken, opensslAvailable, opensslVerify } from '../helpers/openssl.js';

/**
 * Where this library decides differently from `openssl cms -verify` on purpose. Everything else must agree.
 * - MD5 digests: OpenSSL 3.0 still accepts them; a forged token is within reach, so they are refused.
 */
const DELIBERATE = new Set(['v3-rsa-md5']);

interface Case {
  label: string;
  der: Uint8Array;
  signer: string;
  ca: string;
}

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function flip(der: Uint8Array, offset: number, bit: number): Uint8Array {
  const copy = Buffer.from(der);
  copy[offset]! ^= 1 << bit;
  return copy;
}

function cases(): Case[] {
  const list: Case[] = [];
  for (const entry of manifest) {
    list.push({ label: entry.name, der: tokenToDer(token(entry.name, 'pki')), signer: `${entry.signer}.pem`, ca: 'ca-chain.pem' });
  }
  const base = (name: string) => tokenToDer(token(name, 'pki'));
  list.push({ label: 'rotated signer', der: base('v3-rsa2'), signer: 'signing-rsa.pem', ca: 'ca-chain.pem' });
  list.push({ label: 'CA file: intermediate only', der: base('v3-rsa-sha256'), signer: 'signing-rsa.pem', ca: 'intermediate-ca.pem' });
  list.push({ label: 'CA file: root only', der: base('v3-rsa-sha256'), signer: 'signing-rsa.pem', ca: 'root-ca.pem' });
  list.push({ label: 'CA file: unrelated CA', der: base('v3-rsa-sha256'), signer: 'signing-rsa.pem', ca: 'other-ca.pem' });
  list.push({ label: 'unrelated CA file for its own signer', der: base('v3-other-ca'), signer: 'signing-other.pem', ca: 'other-ca.pem' });

  const next = random(20261122);
  const mutated = ['v3-rsa-sha256', 'v2-rsa-sha1', 'v3-ec-sha256', 'v3-rsa-pss', 'v3-rsa-attrs', 'v3-rsa-keyid', 'v3-rsa-sha512'];
  for (const name of mutated) {
    const entry = manifest.find((m) => m.name === name)!;
    const der = base(name);
    const parsed = parseSignedData(der);
    const contentAt = parsed.content.byteOffset - der.byteOffset;
    const signature = parsed.signerInfos[0]!.signature;
    const signatureAt = signature.byteOffset - der.byteOffset;
    const sid = parsed.signerInfos[0]!.sid;
    const sidBytes = 'serial' in sid ? sid.serial : sid.subjectKeyId;
    const sidAt = sidBytes.byteOffset - der.byteOffset;
    const signer = `${entry.signer}.pem`;
    const add = (label: string, mutant: Uint8Array) => list.push({ label: `${name}: ${label}`, der: mutant, signer, ca: 'ca-chain.pem' });
    for (let i = 0; i < 3; i++) {
      const offset = contentAt + Math.floor(next() * parsed.content.length);
      add(`content bit flip @${offset}`, flip(der, offset, Math.floor(next() * 8)));
    }
    for (let i = 0; i < 2; i++) {
      const offset = signatureAt + Math.floor(next() * signature.length);
      add(`signature bit flip @${offset}`, flip(der, offset, Math.floor(next() * 8)));
    }
    add('signer id bit flip', flip(der, sidAt + sidBytes.length - 1, 0));
    for (const fraction of [0.5, 0.9]) add(`truncated to ${fraction}`, der.subarray(0, Math.floor(der.length * fraction)));
    add('last byte cut', der.subarray(0, der.length - 1));
    for (let i = 0; i < 4; i++) {
      const offset = Math.floor(next() * der.length);
      add(`bit flip anywhere @${offset}`, flip(der, offset, Math.floor(next() * 8)));
    }
    add('wrong CA file', der);
    list[list.length - 1]!.ca = 'other-ca.pem';
  }
  return list;
}

test('accept/reject decisions equal `openssl cms -verify` on fixtures and their mutations', async (t) => {
  if (!opensslAvailable()) {
    t.diagnostic('openssl is not installed: .ci/run installs it; conformance cannot be checked without the reference');
    assert.fail('openssl is required for the conformance test (apt-get install -y openssl)');
  }
  const all = cases();
  const verdicts = new Array<{ ours: string; openssl: boolean; stderr: string }>(all.length);
  let index = 0;
  const worker = async () => {
    while (index < all.length) {
      const i = index++;
      const c = all[i]!;
      let ours = 'accept';
      try {
        verifySignedToken(derToPkiToken(c.der), { signingCert: pki(c.signer), caCerts: pki(c.ca) });
      } catch (error) {
        assert.ok(error instanceof KeystoneAuthError, `${c.label}: untyped error ${error}`);
        ours = error.code;
      }
      const reference = await opensslVerify(derToPem(c.der), pkiPath(c.signer), pkiPath(c.ca));
      verdicts[i] = { ours, openssl: reference.ok, stderr: reference.stderr };
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);

  let agreed = 0;
  let deliberate = 0;
  const disagreements: string[] = [];
  all.forEach((c, i) => {
    const { ours, openssl, stderr } = verdicts[i]!;
    const same = (ours === 'accept') === openssl;
    if (same) agreed++;
    else if (DELIBERATE.has(c.label) && openssl && ours !== 'accept') deliberate++;
    else disagreements.push(`${c.label}: ours=${ours} openssl=${openssl ? 'accept' : 'reject'} ${stderr.split('\n').find((l) => l.includes('error')) ?? ''}`);
  });
  const summary = `openssl conformance: ${agreed} of ${all.length} decisions agree, ${deliberate} deliberate difference(s) (MD5 refused), ${disagreements.length} disagreement(s)`;
  t.diagnostic(summary);
  console.log(summary);
  assert.deepEqual(disagreements, []);
  assert.ok(all.length >= 100, `ran ${all.length} cases`);
});

test('the canonical forms of every fixture token include, byte for byte, what openssl cms -sign wrote (MD5 and -keyid aside)', async () => {
  const { canonicalForms } = await import('../../src/cms/canonical.js');
  const { parseCertificates } = await import('../../src/cms/certificate.js');
  let identical = 0;
  for (const entry of manifest) {
    const der = Buffer.from(tokenToDer(token(entry.name, 'pki')));
    const signer = parseCertificates(pki(`${entry.signer}.pem`), 'signer')[0]!;
    const forms = canonicalForms(parseSignedData(der), signer);
    if (forms.some((form) => form.equals(der))) identical++;
    else if (entry.options === '-keyid') {
      // Keystone never signed with -keyid: the canonical form names the signer by issuer and serial instead, and verifies.
      assert.equal(forms.length, 1);
      verifySignedToken(forms[0]!, { signingCert: pki(`${entry.signer}.pem`), caCerts: pki('ca-chain.pem') });
    } else assert.equal(entry.md, 'md5', `${entry.name} differs from its canonical forms`);
    // ECDSA: the form with s and the form with n - s
    assert.equal(forms.length, entry.md === 'md5' ? 0 : entry.signer === 'signing-ec' ? 2 : 1, entry.name);
  }
  assert.equal(identical, manifest.length - 2);
});
