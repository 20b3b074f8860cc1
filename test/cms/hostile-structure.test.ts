import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { KeystoneAuthError, verifySignedToken } from '../../src/index.js';
import { encodeOid, encodeTlv, sequence } from '../../src/cms/der.js';
import { cmsPem, tokenToDer } from '../../src/token/format.js';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { tempDir } from '../helpers/app.js';
import { opensslAvailable, opensslVerify } from '../helpers/openssl.js';
import { build, partsOf } from '../helpers/variants.js';

/**
 * Tokens shaped as an attacker shapes them to cost CPU before their signer is known (issue 19, family 2), built
 * from messages `openssl cms -sign` wrote, and compressed as keystoneclient's pkiz_sign does. Decisions and codes
 * only; the cost is measured in bench/hostile-tokens.ts.
 */

let idp: IdentityServer;
let dir: string;
let files: { signer: string; key: string; ca: string };
const BODY = JSON.stringify({ token: { methods: ['password'], user: { id: 'alice-id', name: 'alice', domain: { id: 'default', name: 'Default' } }, expires_at: '2099-01-01T00:00:00.000000Z', issued_at: '2024-01-01T00:00:00.000000Z', audit_ids: ['abcdefghijklmnopqrstuv'] } });

before(async () => {
  if (!opensslAvailable()) assert.fail('openssl is required: .ci/run installs it');
  idp = await startIdentityServer();
  dir = tempDir('kat-hostile-');
  files = { signer: join(dir, 'signer.pem'), key: join(dir, 'signer.key'), ca: join(dir, 'ca.pem') };
  writeFileSync(files.signer, idp.pki.signing.pem);
  writeFileSync(files.key, idp.pki.signing.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  writeFileSync(files.ca, idp.pki.ca.pem);
});
after(() => idp?.close());

/** `openssl cms -sign` as keystoneclient's cms_sign_data runs it, with `-nocerts` or not, and extra arguments. */
function opensslSign(body: string, options: { nocerts: boolean; extra?: string[] }): string {
  return execFileSync('openssl', [
    'cms', '-sign', '-signer', files.signer, '-inkey', files.key, '-outform', 'PEM', '-nosmimecap', '-nodetach', '-md', 'sha256', '-noattr',
    ...(options.nocerts ? ['-nocerts'] : []), ...(options.extra ?? []),
  ], { input: body, encoding: 'utf8' });
}

/** keystoneclient's pkiz_sign: 'PKIZ_' + urlsafe base64 (padded) of zlib.compress(PEM text). */
function pkiz(pem: string): string {
  return 'PKIZ_' + deflateSync(pem, { level: 6 }).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

function codeOf(token: string): string {
  try {
    verifySignedToken(token, { signingCert: idp.pki.signing.pem, caCerts: idp.pki.ca.pem });
    return 'accept';
  } catch (error) {
    assert.ok(error instanceof KeystoneAuthError, `untyped error ${error}`);
    return error.code;
  }
}

test('openssl-signed tokens that carry certificates (no -nocerts; -certfile) verify, as `openssl cms -verify` agrees, as PKI PEM and PKIZ', async () => {
  for (const extra of [[], ['-certfile', files.ca]]) {
    const pem = opensslSign(BODY, { nocerts: false, extra });
    const carried = partsOfCertificates(pem);
    assert.equal(carried, extra.length ? 2 : 1, 'openssl put the signer (and the -certfile CA) in the message');
    assert.ok((await opensslVerify(pem, files.signer, files.ca)).ok, 'openssl accepts it');
    assert.equal(codeOf(pem), 'accept');
    assert.equal(codeOf(pkiz(pem)), 'accept');
  }
});

function partsOfCertificates(pem: string): number {
  return verifySignedToken(pem, { signingCert: idp.pki.signing.pem, caCerts: idp.pki.ca.pem }).signedData.certificates.length;
}

/** The openssl-signed message with its certificates field replaced (nothing signed covers it). */
function withCertificates(pem: string, certificates: Buffer[]): string {
  const parts = partsOf(tokenToDer(pem));
  parts.certificates = encodeTlv(0xa0, Buffer.concat(certificates));
  return cmsPem(build(parts));
}

test('a certificates field that does not parse is refused as openssl refuses it; a validly signed token with a garbage certificate too', async () => {
  const pem = withCertificates(opensslSign(BODY, { nocerts: true }), [sequence(encodeTlv(0x04, Buffer.from('garbage')))]);
  assert.equal((await opensslVerify(pem, files.signer, files.ca)).ok, false);
  assert.equal(codeOf(pem), 'ERR_CMS_MALFORMED');
});

test('a 10 KB PKIZ token inflating far beyond its size (a zlib bomb of copied certificates) is refused before any CMS parsing: ERR_PKIZ_TOO_LARGE', () => {
  const pem = withCertificates(opensslSign(BODY, { nocerts: true }), Array.from({ length: 16 }, () => Buffer.alloc(40_000, 0)).map((b) => sequence(b)));
  const token = pkiz(pem);
  assert.ok(token.length < 10_000, `${token.length} characters`);
  assert.ok(pem.length > 32 * (token.length * 3) / 4, 'inflates more than 32 times');
  assert.equal(codeOf(token), 'ERR_PKIZ_TOO_LARGE');
});

test('a PKIZ token of a large real catalog (about 11 times compressed) still verifies', async () => {
  const token = await idp.issueToken({ format: 'pkiz', catalogSize: 200 });
  assert.equal(codeOf(token), 'accept');
});

test('more than Keystone writes is refused early with ERR_CMS_TOO_COMPLEX: two SignerInfos, a CRL, 9 digest algorithms, 17 certificates, a long OID', async () => {
  const signed = tokenToDer(opensslSign(BODY, { nocerts: true }));
  const edit = (change: (p: ReturnType<typeof partsOf>) => void) => {
    const parts = partsOf(signed);
    change(parts);
    return pkiz(cmsPem(build(parts)));
  };
  // Each of these verifies today (the SignerInfo repeated, both by the real signer; a CRL openssl parses and ignores).
  assert.equal(codeOf(edit((p) => p.signers.push({ ...p.signers[0]! }))), 'ERR_CMS_TOO_COMPLEX');
  const crl = edit((p) => (p.crls = encodeTlv(0xa1, realCrl())));
  assert.ok((await opensslVerify(cmsPem(tokenToDer(crl)), files.signer, files.ca)).ok, 'openssl accepts a CRL it then ignores: refused here on purpose');
  assert.equal(codeOf(crl), 'ERR_CMS_TOO_COMPLEX');
  assert.equal(codeOf(edit((p) => p.digests.push(...Array.from({ length: 8 }, () => sequence(encodeOid('1.3.14.3.2.26')))))), 'ERR_CMS_TOO_COMPLEX');
  assert.equal(codeOf(edit((p) => (p.certificates = encodeTlv(0xa0, Buffer.concat(Array.from({ length: 17 }, () => idp.pki.ca.der)))))), 'ERR_CMS_TOO_COMPLEX');
  const longOid = encodeTlv(0x06, Buffer.concat([Buffer.from([0x2a]), Buffer.alloc(80, 0x01)]));
  assert.equal(codeOf(edit((p) => p.digests.push(sequence(longOid)))), 'ERR_CMS_TOO_COMPLEX');
  // 16 certificates, the most allowed, still verify.
  assert.equal(codeOf(edit((p) => (p.certificates = encodeTlv(0xa0, Buffer.concat(Array.from({ length: 16 }, () => idp.pki.ca.der)))))), 'accept');
});

/** A CRL signed by the test CA with `openssl ca -gencrl`, as DER. */
function realCrl(): Buffer {
  const caKey = join(dir, 'ca.key');
  writeFileSync(caKey, idp.pki.ca.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  const config = join(dir, 'ca.cnf');
  writeFileSync(config, `[ca]\ndefault_ca = d\n[d]\ndatabase = ${join(dir, 'index.txt')}\ncrlnumber = ${join(dir, 'crlnumber')}\ndefault_md = sha256\ndefault_crl_days = 30\n`);
  const pem = execFileSync('openssl', ['ca', '-gencrl', '-config', config, '-cert', files.ca, '-keyfile', caKey], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return Buffer.from(pem.replace(/-----[A-Z0-9 ]+-----|\s/g, ''), 'base64');
}
