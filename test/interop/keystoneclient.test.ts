// Truth from the real peer: tokens minted at test time by Debian's python3-keystoneclient (the code Keystone signed
// with), and keystoneclient's own verdicts (pkiz_verify / cms_verify, which run openssl) on them and their variants.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KeystoneAuthError, verifySignedToken } from '../../src/index.js';
import { certificateFromPem, signCms, tokenBody, toPkiToken, toPkizToken } from '../../src/testing/index.js';
import { decodePkiz, tokenToDer } from '../../src/token/format.js';
import { keystoneclientMissing, keystoneclientSign, keystoneclientVerify } from '../helpers/keystoneclient.js';
import { pkiPath } from '../helpers/fixtures.js';
import { derVariants, ENCODINGS } from '../helpers/variants.js';

const SIGNERS = { rsa: 'signing-rsa', ec: 'signing-ec' } as const;
const CA = pkiPath('ca-chain.pem');
const BODIES: Record<string, unknown> = {
  v3: tokenBody({ user: 'alice', project: 'demo', roles: ['member', 'reader'] }),
  'v2.0': tokenBody({ user: 'bob', project: 'ops', roles: ['admin'], version: 'v2.0' }),
  unicode: tokenBody({ user: 'Zoë 東京', project: 'проект', roles: ['member'] }),
  'large catalog': tokenBody({ user: 'carol', catalogSize: 30 }),
};

export interface Minted {
  label: string;
  signer: keyof typeof SIGNERS;
  md: 'sha1' | 'sha256';
  form: 'pki' | 'pkiz';
  text: string;
  token: string;
}

let minted: Minted[] = [];

before(async () => {
  const missing = keystoneclientMissing();
  if (missing) assert.fail(`${missing}; .ci/run installs it`);
  const requests: Omit<Minted, 'token'>[] = [];
  for (const signer of Object.keys(SIGNERS) as (keyof typeof SIGNERS)[]) {
    for (const [name, body] of Object.entries(BODIES)) {
      for (const md of ['sha256', 'sha1'] as const) {
        for (const form of ['pki', 'pkiz'] as const) requests.push({ signer, md, form, text: JSON.stringify(body), label: `${name} ${signer} ${md} ${form}` });
      }
    }
  }
  const tokens = await keystoneclientSign(
    requests.map((r) => ({ text: r.text, cert: pkiPath(`${SIGNERS[r.signer]}.pem`), key: pkiPath(`${SIGNERS[r.signer]}.key`), md: r.md, form: r.form })),
  );
  minted = requests.map((r, i) => ({ ...r, token: tokens[i]! }));
});

function material(signer: keyof typeof SIGNERS) {
  return { signingCert: readFileSync(pkiPath(`${SIGNERS[signer]}.pem`), 'utf8'), caCerts: readFileSync(CA, 'utf8') };
}

test('every PKI and PKIZ token keystoneclient signs (v2.0 and v3 bodies, RSA and ECDSA, SHA-1 and SHA-256) verifies, with the body it signed', () => {
  assert.equal(minted.length, 32);
  for (const m of minted) {
    assert.ok(m.token.startsWith(m.form === 'pkiz' ? 'PKIZ_' : 'MII'), m.label);
    const verified = verifySignedToken(m.token, material(m.signer));
    assert.equal(Buffer.from(verified.content).toString('utf8'), m.text, m.label);
    assert.equal(verified.digestAlgorithm, m.md, m.label);
  }
  // A real PKIZ token inflates to the PEM text, as pkiz_sign compresses it, not to DER.
  for (const m of minted.filter((x) => x.form === 'pkiz')) assert.ok(decodePkiz(m.token).pem.startsWith('-----BEGIN CMS-----\n'), m.label);
});

test('the test kit mints byte for byte what keystoneclient mints (RSA, SHA-256: PKCS#1 v1.5 signatures are deterministic)', () => {
  const signer = certificateFromPem(readFileSync(pkiPath('signing-rsa.pem'), 'utf8'), readFileSync(pkiPath('signing-rsa.key'), 'utf8'));
  let compared = 0;
  for (const m of minted.filter((x) => x.signer === 'rsa' && x.md === 'sha256')) {
    const der = signCms(Buffer.from(m.text, 'utf8'), signer);
    assert.equal(m.form === 'pkiz' ? toPkizToken(der) : toPkiToken(der), m.token, m.label);
    compared++;
  }
  assert.equal(compared, 8);
});

test('decisions on keystoneclient tokens and their variants equal keystoneclient\'s pkiz_verify / cms_verify, where we are not deliberately stricter', async () => {
  interface Case { label: string; token: string; signer: keyof typeof SIGNERS; ca: string; stricter?: string }
  const cases: Case[] = [];
  for (const m of minted) {
    cases.push({ label: m.label, token: m.token, signer: m.signer, ca: CA });
    // wrong trust: the CA of somebody else; wrong signing certificate
    if (m.md === 'sha256' && m.label.startsWith('v3')) {
      cases.push({ label: `${m.label} against another CA`, token: m.token, signer: m.signer, ca: pkiPath('other-ca.pem') });
      cases.push({ label: `${m.label} against the other signing certificate`, token: m.token, signer: m.signer === 'rsa' ? 'ec' : 'rsa', ca: CA });
    }
  }
  // Variants of the sha256 v3 tokens: every DER transform under every encoding, and damaged copies.
  for (const m of minted.filter((x) => x.md === 'sha256' && (x.label.startsWith('v3') || x.label.startsWith('v2.0')))) {
    const signerPem = readFileSync(pkiPath(`${SIGNERS[m.signer]}.pem`), 'utf8');
    const der = tokenToDer(m.token);
    for (const encoding of ENCODINGS) cases.push({ label: `${m.label} / ${encoding.name}`, token: encoding.encode(der), signer: m.signer, ca: CA, stricter: encoding.stricter });
    for (const variant of derVariants(m.token, signerPem)) {
      for (const encoding of ENCODINGS.slice(0, 2)) cases.push({ label: `${m.label} / ${variant.name} / ${encoding.name}`, token: encoding.encode(variant.der), signer: m.signer, ca: CA, stricter: variant.stricter });
    }
    for (const at of [10, 200, der.length - 40, der.length - 3]) {
      const flipped = Buffer.from(der);
      flipped[at]! ^= 0x01;
      cases.push({ label: `${m.label} / bit flipped at byte ${at}`, token: ENCODINGS[m.form === 'pki' ? 0 : 1]!.encode(flipped), signer: m.signer, ca: CA });
    }
    cases.push({ label: `${m.label} / truncated`, token: m.token.slice(0, Math.floor(m.token.length / 2)), signer: m.signer, ca: CA });
  }

  const reference = await keystoneclientVerify(cases.map((c) => ({ token: c.token, cert: pkiPath(`${SIGNERS[c.signer]}.pem`), ca: c.ca })));
  let agreed = 0;
  const deliberate: string[] = [];
  const disagreements: string[] = [];
  cases.forEach((c, i) => {
    let ours = 'accept';
    let content: string | undefined;
    try {
      const verified = verifySignedToken(c.token, { signingCert: readFileSync(pkiPath(`${SIGNERS[c.signer]}.pem`), 'utf8'), caCerts: readFileSync(c.ca, 'utf8') });
      content = Buffer.from(verified.content).toString('utf8');
    } catch (error) {
      assert.ok(error instanceof KeystoneAuthError, `${c.label}: untyped error ${error}`);
      ours = error.code;
    }
    const theirs = reference[i]!;
    if ((ours === 'accept') === theirs.ok) {
      agreed++;
      if (theirs.ok) assert.equal(content, theirs.content, `${c.label}: the same content`);
    } else if (ours !== 'accept' && theirs.ok && c.stricter) deliberate.push(`${c.label} (${ours}): ${c.stricter}`);
    else disagreements.push(`${c.label}: ours=${ours} keystoneclient=${theirs.ok ? 'accept' : `refuse (${theirs.error.split('\n')[0]})`}`);
  });
  const summary = `keystoneclient conformance: ${agreed} of ${cases.length} decisions agree, ${deliberate.length} deliberately stricter, ${disagreements.length} disagreement(s)`;
  console.log(summary);
  for (const line of deliberate.slice(0, 12)) console.log(`  stricter: ${line}`);
  assert.deepEqual(disagreements, []);
  assert.ok(cases.length >= 200, `${cases.length} cases`);
});

test('keystoneclient tokens pass the middleware with the identity headers of the body they carry; revoked, they get 401', async () => {
  const { startIdentityServer } = await import('../../src/testing/index.js');
  const { startApp } = await import('../helpers/app.js');
  const read = (name: string) => readFileSync(pkiPath(name), 'utf8');
  const intermediate = certificateFromPem(read('intermediate-ca.pem'), read('intermediate-ca.key'));
  for (const signer of ['rsa', 'ec'] as const) {
    const idp = await startIdentityServer({ pki: { ca: { ...intermediate, pem: read('ca-chain.pem') }, signing: certificateFromPem(read(`${SIGNERS[signer]}.pem`), read(`${SIGNERS[signer]}.key`)) } });
    const app = await startApp(idp, { auth_version: 'v3' });
    try {
      for (const m of minted.filter((x) => x.signer === signer)) {
        const { status, seen, keystone } = await app.get({ 'x-auth-token': m.token });
        assert.equal(status, 200, m.label);
        const body = JSON.parse(m.text);
        const v3 = body.token;
        const user = v3 ? v3.user : body.access.user;
        assert.equal(seen['x-identity-status'], 'Confirmed');
        assert.equal(seen['x-user-id'], user.id, m.label);
        assert.equal(keystone.user.name, user.name, m.label);
        assert.equal(seen['x-project-id'], v3 ? v3.project.id : body.access.token.tenant.id, m.label);
        assert.deepEqual(keystone.roles, (v3 ? v3.roles : user.roles).map((r: { name: string }) => r.name), m.label);
        assert.equal(keystone.version, v3 ? 'v3' : 'v2.0');
      }
      const victim = minted.find((x) => x.signer === signer && x.form === 'pkiz' && x.md === 'sha256')!;
      idp.revoke(victim.token);
      const fresh = await startApp(idp, { auth_version: 'v3' });
      try {
        const { status, keystone } = await fresh.get({ 'x-auth-token': victim.token });
        assert.equal(status, 401);
        assert.equal(keystone.error.reason, 'ERR_TOKEN_REVOKED');
      } finally {
        await fresh.close();
      }
    } finally {
      await app.close();
      await idp.close();
    }
  }
});
