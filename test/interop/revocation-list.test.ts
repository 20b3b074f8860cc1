// A large revocation list as Keystone served it: the content in Python json.dumps form, signed at test time by
// Debian's python3-keystoneclient (cms_sign_text, as Keystone's PKI provider did), wrapped as {"signed": PEM}.
// Streamed through the reader in socket-sized chunks (the large-list path), verified, and read on the worker: every
// entry found, revoked.pem written byte for byte as keystoneclient's openssl wrote the PEM; openssl cms -verify
// agrees on the list and on a tampered copy.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SigningMaterial } from '../../src/cms/verify.js';
import { RevocationReader, WORKER_THRESHOLD_BYTES } from '../../src/signing/revocation-worker.js';
import { hashToken } from '../../src/token/hash.js';
import { keystoneclientMissing, keystoneclientSign } from '../helpers/keystoneclient.js';
import { opensslVerify } from '../helpers/openssl.js';
import { material, pkiPath } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/app.js';

const ENTRIES = 20_000;
const id = (i: number) => (i % 5 === 4 ? createHash('sha256').update(`token ${i}`).digest('hex') : hashToken(`token ${i}`, 'md5'));
const auditId = (i: number) => createHash('sha1').update(`audit ${i}`).digest().subarray(0, 16).toString('base64url');

/** The content as Keystone's jsonutils.dumps wrote it (Python's separators); every tenth entry pre-Kilo, without audit id. */
const content = `{"revoked": [${Array.from({ length: ENTRIES }, (_, i) => `{"id": "${id(i)}", "expires": "2030-01-01T00:00:00.000000Z"${i % 10 === 9 ? '' : `, "audit_id": "${auditId(i)}"`}}`).join(', ')}]}`;

const signed: Record<string, string> = {};
before(async () => {
  const missing = keystoneclientMissing();
  if (missing) assert.fail(`${missing}; .ci/run installs it`);
  const signers = ['signing-rsa', 'signing-ec'];
  const pems = await keystoneclientSign(signers.map((signer) => ({ text: content, cert: pkiPath(`${signer}.pem`), key: pkiPath(`${signer}.key`), md: 'sha256' as const, form: 'text' as const })));
  signers.forEach((signer, i) => (signed[signer] = pems[i]!));
});

/** Keystone's answer, fed to a reader 64 KiB at a time as a socket gives it. */
async function read(answer: Uint8Array, signer: string) {
  const reader = new RevocationReader('json', answer.length);
  try {
    for (let at = 0; at < answer.length; at += 65536) reader.write(answer.slice(at, at + 65536));
    const der = await reader.signed();
    assert.ok(der instanceof Uint8Array && der.buffer instanceof ArrayBuffer, 'a large list is decoded as it arrives, into its DER');
    const verified = await new SigningMaterial(material(signer)).verifyAsync(der, { maxTokenLength: Number.MAX_SAFE_INTEGER });
    assert.equal(Buffer.from(verified.content).toString('utf8'), content);
    const entries = await reader.entries(verified.content, verified.der);
    assert.equal(der.length, 0, 'the DER was moved to the worker thread');
    // revoked.pem as the worker writes it: byte for byte the PEM keystoneclient's openssl wrote.
    const file = join(tempDir(), 'revoked.pem');
    const fd = openSync(file, 'w');
    try {
      await reader.writePem(fd);
    } finally {
      closeSync(fd);
    }
    assert.equal(readFileSync(file, 'utf8'), signed[signer]);
    return entries;
  } finally {
    reader.close();
  }
}

for (const signer of ['signing-rsa', 'signing-ec']) {
  test(`a 20,000-entry list keystoneclient signed (${signer}), streamed in chunks: every id and audit id found, openssl agrees`, async () => {
    const answer = new TextEncoder().encode(`{"signed": ${JSON.stringify(signed[signer])}}`);
    assert.ok(answer.length > 4 * WORKER_THRESHOLD_BYTES);
    const entries = await read(answer, signer);
    assert.equal(entries.size, ENTRIES);
    assert.equal(entries.withoutAuditId, ENTRIES / 10);
    for (let i = 0; i < ENTRIES; i++) {
      assert.ok(entries.has(id(i)) && entries.has(id(i).toUpperCase()), `id ${i}`);
      if (i % 10 !== 9) assert.ok(entries.hasAuditId(auditId(i)), `audit id ${i}`);
    }
    assert.ok(!entries.has(hashToken('token 20000', 'md5')) && !entries.hasAuditId(auditId(9)) && !entries.hasAuditId(auditId(ENTRIES)));
    assert.ok((await opensslVerify(signed[signer]!, pkiPath(`${signer}.pem`), pkiPath('ca-chain.pem'))).ok, 'openssl accepts the list');

    // One base64 character of the content changed: openssl refuses, and so do we.
    const lines = signed[signer]!.split('\n');
    const line = Math.floor(lines.length / 2);
    lines[line] = (lines[line]![10] === 'A' ? 'B' : 'A').padStart(11, lines[line]!.slice(0, 10)) + lines[line]!.slice(11);
    const tampered = lines.join('\n');
    assert.equal((await opensslVerify(tampered, pkiPath(`${signer}.pem`), pkiPath('ca-chain.pem'))).ok, false, 'openssl refuses the tampered list');
    await assert.rejects(read(new TextEncoder().encode(`{"signed": ${JSON.stringify(tampered)}}`), signer), (error: Error & { code?: string }) => error.code === 'ERR_SIGNATURE_INVALID');
  });
}
