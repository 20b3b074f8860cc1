import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeystoneAuthError, SigningMaterial, verifySignedToken } from '../../src/index.js';
import { body, manifest, material, pki, token } from '../helpers/fixtures.js';

/** What each fixture token must give with its own signing certificate and the test CA chain. */
const EXPECTED: Record<string, string> = {
  'v3-rsa-md5': 'ERR_UNSUPPORTED_ALGORITHM',
  'v3-expired-cert': 'ERR_CERT_EXPIRED',
  'v3-notyet-cert': 'ERR_CERT_NOT_YET_VALID',
  'v3-serverauth': 'ERR_CERT_PURPOSE',
  'v3-anyeku': 'ERR_CERT_PURPOSE',
  'v3-keyenc': 'ERR_CERT_PURPOSE',
  'v3-other-ca': 'ERR_CERT_UNTRUSTED',
};

function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'valid';
  } catch (error) {
    assert.ok(error instanceof KeystoneAuthError, `untyped error: ${error}`);
    return error.code;
  }
}

function errorOf(fn: () => unknown): KeystoneAuthError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof KeystoneAuthError, `untyped error: ${error}`);
    return error;
  }
  assert.fail('expected a refusal');
}

for (const entry of manifest) {
  const expected = EXPECTED[entry.name] ?? 'valid';
  test(`${entry.name} (${entry.signer}, ${entry.md}${entry.options ? `, ${entry.options}` : ''}) as PKI and PKIZ: ${expected}`, () => {
    for (const form of ['pki', 'pkiz'] as const) {
      const result = outcome(() => verifySignedToken(token(entry.name, form), material(entry.signer)));
      assert.equal(result, expected, form);
    }
  });
}

test('a valid token gives its content, its JSON body, the digest and the signer', () => {
  const result = verifySignedToken(token('v3-rsa-sha256', 'pkiz'), material());
  assert.deepEqual(result.json(), body('v3'));
  assert.equal(Buffer.from(result.content).toString('utf8'), JSON.stringify(body('v3')));
  assert.equal(result.digestAlgorithm, 'sha256');
  assert.equal(result.signatureAlgorithm, 'sha256WithRSAEncryption');
  assert.match(result.signer.subject, /CN=Keystone Signing/);
  assert.match(result.signer.serial, /^[0-9A-F]+$/);
  const v2 = verifySignedToken(token('v2-rsa-sha1', 'pki'), material());
  assert.equal(v2.digestAlgorithm, 'sha1');
  assert.deepEqual(v2.json(), body('v2'));
});

test('a token signed by another certificate is ERR_SIGNER_MISMATCH (the rotated-certificate signal)', () => {
  const error = errorOf(() => verifySignedToken(token('v3-rsa2', 'pki'), material('signing-rsa')));
  assert.equal(error.code, 'ERR_SIGNER_MISMATCH');
  assert.match(error.message, /rotated/);
  const byKeyId = errorOf(() => verifySignedToken(token('v3-rsa-keyid', 'pki'), material('signing-rsa2')));
  assert.equal(byKeyId.code, 'ERR_SIGNER_MISMATCH');
  assert.match(byKeyId.message, /subjectKeyIdentifier/);
});

test('refusals say what is wrong and what to do', () => {
  const expired = errorOf(() => verifySignedToken(token('v3-expired-cert', 'pki'), material('signing-expired')));
  assert.equal(expired.message, 'signing certificate CN=Keystone, O=keystone-authtoken tests expired on 2023-07-20T14:57:31Z; fetch a fresh one from the identity server, and make the identity server sign with a valid certificate');
  const purpose = errorOf(() => verifySignedToken(token('v3-serverauth', 'pki'), material('signing-serverauth')));
  assert.match(purpose.message, /extendedKeyUsage is serverAuth only; a token signing certificate .* need emailProtection or no extendedKeyUsage/);
  const usage = errorOf(() => verifySignedToken(token('v3-keyenc', 'pki'), material('signing-keyenc')));
  assert.match(usage.message, /keyUsage is keyEncipherment; a token signing certificate needs digitalSignature or nonRepudiation/);
  const untrusted = errorOf(() => verifySignedToken(token('v3-other-ca', 'pki'), material('signing-other')));
  assert.match(untrusted.message, /issued by O=somebody else, CN=Unrelated Root CA, which is not among the CA certificates/);
  const md5 = errorOf(() => verifySignedToken(token('v3-rsa-md5', 'pki'), material()));
  assert.match(md5.message, /MD5/);
  assert.equal(expired.status, 401);
});

test('the CA file must hold the path up to a self-signed root', () => {
  const onlyIntermediate = { signingCert: pki('signing-rsa.pem'), caCerts: pki('intermediate-ca.pem') };
  assert.equal(outcome(() => verifySignedToken(token('v3-rsa-sha256', 'pki'), onlyIntermediate)), 'ERR_CERT_UNTRUSTED');
  const onlyRoot = { signingCert: pki('signing-rsa.pem'), caCerts: pki('root-ca.pem') };
  assert.equal(outcome(() => verifySignedToken(token('v3-rsa-sha256', 'pki'), onlyRoot)), 'ERR_CERT_UNTRUSTED');
  const wrongRoot = { signingCert: pki('signing-rsa.pem'), caCerts: pki('other-ca.pem') };
  assert.equal(outcome(() => verifySignedToken(token('v3-rsa-sha256', 'pki'), wrongRoot)), 'ERR_CERT_UNTRUSTED');
  // Certificates after the first in the signing file are not intermediates: openssl's -certfile only finds the
  // signer there (openssl-paths.test.ts compares this with openssl itself).
  const bundled = { signingCert: pki('signing-rsa.pem') + pki('intermediate-ca.pem'), caCerts: pki('root-ca.pem') };
  assert.equal(outcome(() => verifySignedToken(token('v3-rsa-sha256', 'pki'), bundled)), 'ERR_CERT_UNTRUSTED');
});

test('certificates are checked at the time given', () => {
  const at = (iso: string) => ({ ...material(), now: new Date(iso) });
  assert.equal(outcome(() => verifySignedToken(token('v3-rsa-sha256', 'pki'), at('2030-01-01T00:00:00Z'))), 'valid');
  assert.equal(outcome(() => verifySignedToken(token('v3-rsa-sha256', 'pki'), at('2200-01-01T00:00:00Z'))), 'ERR_CERT_EXPIRED');
  assert.equal(outcome(() => verifySignedToken(token('v3-rsa-sha256', 'pki'), at('2000-01-01T00:00:00Z'))), 'ERR_CERT_NOT_YET_VALID');
  const notYet = { ...material('signing-notyet'), now: new Date('2099-06-01T00:00:00Z') };
  assert.equal(outcome(() => verifySignedToken(token('v3-notyet-cert', 'pki'), notYet)), 'valid');
});

test('missing or unparseable certificates are typed errors', () => {
  assert.equal(outcome(() => new SigningMaterial({ signingCert: '', caCerts: pki('ca-chain.pem') })), 'ERR_CERT_MISSING');
  assert.equal(outcome(() => new SigningMaterial({ signingCert: pki('signing-rsa.pem'), caCerts: 'garbage' })), 'ERR_CERT_MISSING');
  const broken = '-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n';
  assert.equal(outcome(() => new SigningMaterial({ signingCert: broken, caCerts: pki('ca-chain.pem') })), 'ERR_CERT_MALFORMED');
});

test('altered content, signature or structure is refused', () => {
  const der = Buffer.from(token('v3-rsa-sha256', 'pem').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const text = der.toString('latin1');
  const at = text.indexOf('"alice"');
  assert.ok(at > 0);
  const altered = Buffer.from(der);
  altered.write('"eve"  ', at, 'latin1');
  assert.equal(outcome(() => verifySignedToken(altered, material())), 'ERR_SIGNATURE_INVALID');
  const badSignature = Buffer.from(der);
  badSignature[badSignature.length - 5]! ^= 0x01;
  assert.equal(outcome(() => verifySignedToken(badSignature, material())), 'ERR_SIGNATURE_INVALID');
  assert.equal(outcome(() => verifySignedToken(der.subarray(0, der.length - 1), material())), 'ERR_CMS_MALFORMED');
  assert.equal(outcome(() => verifySignedToken(Buffer.concat([der, Buffer.from([0])]), material())), 'ERR_CMS_MALFORMED');
});

test('signed attributes are checked: an altered messageDigest is refused', () => {
  const der = Buffer.from(token('v3-rsa-attrs', 'pem').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  assert.equal(outcome(() => verifySignedToken(der, material())), 'valid');
  const altered = Buffer.from(der);
  const at = altered.toString('latin1').indexOf('"alice"');
  altered.write('"eve"  ', at, 'latin1');
  assert.equal(outcome(() => verifySignedToken(altered, material())), 'ERR_MESSAGE_DIGEST_MISMATCH');
});

test('signed content that is not UTF-8 JSON verifies, but json() is a typed error', () => {
  const result = verifySignedToken(token('not-json', 'pki'), material());
  assert.equal(result.content[0], 0xff);
  assert.equal(outcome(() => result.json()), 'ERR_CONTENT_NOT_JSON');
});

test('the revocation list (PEM CMS) verifies with the same material', () => {
  const list = verifySignedToken(token('revoked', 'pem'), material()).json() as { revoked: { id: string }[] };
  assert.equal(list.revoked.length, 5);
});
