// The revocation list read from its bytes (revocation-codec.ts) against the reading it replaced: JSON.parse of
// the text, then the "revoked" entries' ids; and the streamed PEM decoder against JSON.parse + base64. Both run
// on generated variants and on thousands of seeded mutations: same answer, or both refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { revocationCodec } from '../../src/signing/revocation-codec.js';
import { RevocationEntries } from '../../src/signing/revoked-set.js';
import { auditKey } from '../../src/signing/revoked-set.js';
import { seeded } from '../helpers/seeded.js';

const codec = revocationCodec();

/** What the JSON.parse reading gave: lower-cased ids, audit keys (and the audit ids), entries without an audit id. */
function reference(bytes: Uint8Array): { ids: string[]; audits: string[]; rawAudits: string[]; withoutAuditId: number } {
  const list = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as { revoked?: unknown };
  if (!list || !Array.isArray(list.revoked)) throw new Error('no "revoked" array');
  const ids: string[] = [];
  const audits: string[] = [];
  const rawAudits: string[] = [];
  let withoutAuditId = 0;
  for (const entry of list.revoked) {
    const id = (entry as { id?: unknown } | null)?.id;
    const audit = (entry as { audit_id?: unknown } | null)?.audit_id;
    if (typeof id === 'string') ids.push(id.toLowerCase());
    if (typeof audit === 'string' && audit !== '') {
      audits.push(auditKey(audit));
      rawAudits.push(audit);
    } else withoutAuditId++;
  }
  return { ids, audits, rawAudits, withoutAuditId };
}

/** Asserts that the scan and the reference agree on `bytes` (both refuse, or the same entries). */
function agree(bytes: Uint8Array, label: string): 'read' | 'refused' {
  let expected: ReturnType<typeof reference> | undefined;
  try {
    expected = reference(bytes);
  } catch {
    expected = undefined;
  }
  let scanned: RevocationEntries | undefined;
  let error: unknown;
  try {
    scanned = new RevocationEntries(codec.scanContent(bytes));
  } catch (caught) {
    error = caught;
  }
  if (!expected) {
    assert.ok(error, `${label}: JSON.parse refuses, the scan must too`);
    return 'refused';
  }
  assert.ok(scanned, `${label}: JSON.parse reads it, the scan refused: ${String(error)}`);
  assert.equal(scanned.size, new Set(expected.ids).size, `${label}: ids`);
  assert.equal(scanned.auditIds.size, new Set(expected.audits).size, `${label}: audit ids`);
  assert.equal(scanned.withoutAuditId, expected.withoutAuditId, `${label}: entries without audit id`);
  for (const id of expected.ids) assert.ok(scanned.has(id), `${label}: ${id}`);
  for (const audit of expected.rawAudits) assert.ok(scanned.hasAuditId(audit), `${label}: audit ${JSON.stringify(audit)}`);
  return 'read';
}

const md5 = (i: number) => createHash('md5').update(`t${i}`).digest('hex');
const sha = (i: number) => createHash('sha256').update(`t${i}`).digest('hex');
const audit = (i: number) => createHash('sha1').update(`a${i}`).digest().subarray(0, 16).toString('base64url');

test('the scan reads what JSON.parse reads, on the shapes a list can take', () => {
  const enc = (text: string) => new TextEncoder().encode(text);
  const variants: [string, string][] = [
    ['compact (our test server)', JSON.stringify({ revoked: [{ id: md5(1), expires: '2030-01-01T00:00:00.000Z', audit_id: audit(1) }, { id: sha(2), expires: 'x' }] })],
    ['Python json.dumps separators', `{"revoked": [{"id": "${md5(1)}", "expires": "2030-01-01T00:00:00.000000Z", "audit_id": "${audit(1)}"}, {"expires": "2030", "id": "${md5(2)}"}]}`],
    ['pretty-printed', JSON.stringify({ revoked: [{ id: md5(3), audit_id: audit(3) }] }, null, 2).replace(/\n/g, '\r\n')],
    ['upper-case and mixed-case ids', JSON.stringify({ revoked: [{ id: md5(4).toUpperCase() }, { id: 'AbCdEf01' }] })],
    ['escaped characters in ids and keys', `{"revoked": [{"\\u0069d": "\\u0061${md5(5).slice(1)}", "audit_\\u0069d": "${audit(5).slice(0, 21)}\\u0041"}, {"id": "a\\/b"}]}`],
    ['ids that are not hex, odd-length, empty, unicode', JSON.stringify({ revoked: [{ id: 'not-hex' }, { id: 'abc' }, { id: '' }, { id: 'Ünïcödé-ID' }, { id: '😀' }] })],
    ['audit ids of other shapes: empty, padded, too long, non-canonical, unicode', JSON.stringify({ revoked: [{ id: md5(6), audit_id: '' }, { id: md5(7), audit_id: `${audit(7)}==` }, { id: md5(8), audit_id: `${audit(8)}A` }, { id: md5(9), audit_id: `${audit(9).slice(0, 21)}B` }, { id: md5(10), audit_id: 'ÄuditÏd' }] })],
    ['values of other types', JSON.stringify({ revoked: [{ id: 42, audit_id: null }, { id: [md5(11)], audit_id: { x: 1 } }, { id: true }, { id: md5(12), extra: [1, -2.5e-3, { deep: [null, false] }] }] })],
    ['entries that are not objects', JSON.stringify({ revoked: [null, 1, 'x', [md5(13)], { id: md5(14) }] })],
    ['duplicate keys: the last wins', `{"revoked": [{"id": "${md5(15)}", "id": "${md5(16)}", "audit_id": "${audit(1)}", "audit_id": 7}]}`],
    ['a repeated "revoked" member: the last wins', `{"revoked": [{"id": "${md5(17)}"}], "revoked": [{"id": "${md5(18)}"}]}`],
    ['other members around the list', `{"before": {"a": [1, 2, {"revoked": []}]}, "revoked": [{"id": "${md5(19)}"}], "after": "x"}`],
    ['duplicates of one id', JSON.stringify({ revoked: [{ id: md5(20) }, { id: md5(20).toUpperCase() }, { id: md5(20) }] })],
    ['an empty list', '{"revoked": []}'],
    ['a byte-order mark', `\ufeff{"revoked": [{"id": "${md5(21)}"}]}`],
    ['ids of many widths', JSON.stringify({ revoked: [1, 2, 3, 8, 20, 64, 128].map((width) => ({ id: randomBytes(width).toString('hex') })) })],
  ];
  for (const [label, text] of variants) assert.equal(agree(enc(text), label), 'read', label);
  const refused: [string, string][] = [
    ['no "revoked"', '{"other": []}'],
    ['"revoked" not an array', '{"revoked": {"id": "ab"}}'],
    ['the last "revoked" not an array', '{"revoked": [], "revoked": 1}'],
    ['an array at the top', '[{"revoked": []}]'],
    ['a string at the top', '"revoked"'],
    ['trailing text', '{"revoked": []} x'],
    ['a trailing comma', '{"revoked": [{"id": "ab"},]}'],
    ['single quotes', "{'revoked': []}"],
    ['a raw newline in a string', '{"revoked": [{"id": "a\nb"}]}'],
    ['a bad escape', '{"revoked": [{"id": "a\\xb"}]}'],
    ['a leading zero', '{"revoked": [{"id": "ab", "n": 01}]}'],
    ['truncated', `{"revoked": [{"id": "${md5(1)}"`],
    ['empty', ''],
  ];
  for (const [label, text] of refused) assert.equal(agree(enc(text), label), 'refused', label);
  const invalidUtf8 = [...enc('{"revoked": [{"id": "'), 0xc3, 0x28, ...enc('"}]}')];
  assert.equal(agree(new Uint8Array(invalidUtf8), 'invalid UTF-8 in a string'), 'refused');
  const surrogate = [...enc('{"revoked": [{"id": "'), 0xed, 0xa0, 0x80, ...enc('"}]}')];
  assert.equal(agree(new Uint8Array(surrogate), 'an encoded surrogate'), 'refused');
});

test('the scan and JSON.parse agree on 5,000 seeded mutations of a list (bytes changed, inserted, removed, cut)', () => {
  const random = seeded(20261122);
  const base = new TextEncoder().encode(
    `{"revoked": [${Array.from({ length: 12 }, (_, i) => `{"id": "${i % 3 ? md5(i) : sha(i).toUpperCase()}", "expires": "2030-01-01T00:00:00Z"${i % 4 ? `, "audit_id": "${audit(i)}"` : ''}}`).join(', ')}], "n": -1.5e+3}`,
  );
  const alphabet = new TextEncoder().encode('{}[]":,\\ -+.eE0123456789abcdefABCDEFnultrsu_x\n\t\u00ff');
  const tally = { read: 0, refused: 0 };
  for (let round = 0; round < 5000; round++) {
    let bytes = Uint8Array.from(base);
    const edits = 1 + Math.floor(random() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(random() * bytes.length);
      const kind = random();
      const byte = random() < 0.9 ? alphabet[Math.floor(random() * alphabet.length)]! : Math.floor(random() * 256);
      if (kind < 0.4) bytes[at] = byte;
      else if (kind < 0.7) bytes = Uint8Array.from([...bytes.subarray(0, at), byte, ...bytes.subarray(at)]);
      else if (kind < 0.95) bytes = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1)]);
      else bytes = bytes.slice(0, at);
    }
    tally[agree(bytes, `mutation ${round}`)]++;
  }
  console.log(`# scan vs JSON.parse on 5,000 mutations: ${tally.read} read alike, ${tally.refused} refused by both, 0 disagreements`);
  assert.ok(tally.read > 500 && tally.refused > 500, 'both outcomes are exercised');
});

/** The reading it replaced: JSON.parse, then the PEM's base64. */
function referencePem(bytes: Uint8Array, kind: 'json' | 'pem'): Buffer {
  let pem = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  if (kind === 'json') {
    const body = JSON.parse(pem) as { signed?: unknown };
    if (typeof body?.signed !== 'string') throw new Error('no "signed"');
    pem = body.signed;
  }
  const match = /^\s*-----BEGIN (CMS|PKCS7)-----([A-Za-z0-9+/=\s]*)-----END \1-----\s*$/.exec(pem);
  if (!match) throw new Error('not PEM CMS');
  const body64 = match[2]!.replace(/\s/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body64) || body64.length % 4 !== 0) throw new Error('not valid base64');
  return Buffer.from(body64, 'base64');
}

/** The streamed decoder, fed in pieces of `piece` bytes. */
function streamed(bytes: Uint8Array, kind: 'json' | 'pem', piece: number, shared = false): Buffer {
  const decoder = codec.envelope(kind, bytes.length, shared);
  for (let at = 0; at < bytes.length; at += piece) decoder.push(bytes.subarray(at, at + piece));
  const der = decoder.end();
  return Buffer.from(der.buffer, der.byteOffset, der.length);
}

function pemOf(der: Buffer, label = 'CMS', eol = '\n'): string {
  return `-----BEGIN ${label}-----${eol}${der.toString('base64').replace(/.{64}/g, `$&${eol}`)}${eol}-----END ${label}-----${eol}`;
}

test('the streamed decoder gives the DER that JSON.parse + base64 gave, whatever the chunk boundaries', () => {
  const random = seeded(7);
  const enc = (text: string) => new TextEncoder().encode(text);
  for (const size of [1, 2, 3, 100, 5000, 20_000]) {
    const der = randomBytes(size);
    const pem = pemOf(der);
    const variants: [string, Uint8Array, 'json' | 'pem'][] = [
      ['Keystone answer', enc(`{"signed": ${JSON.stringify(pem)}}`), 'json'],
      ['compact', enc(JSON.stringify({ signed: pem })), 'json'],
      ['CRLF lines, PKCS7 label', enc(JSON.stringify({ signed: pemOf(der, 'PKCS7', '\r\n') })), 'json'],
      ['escaped slashes and letters', enc(JSON.stringify({ signed: pem }).replace(/\//g, '\\/').replace(/A/g, '\\u0041')), 'json'],
      ['other members, a BOM', enc(`\ufeff{"a": [1, {"signed": 2}], "signed": 5, "signed": ${JSON.stringify(pem)}, "z": null}`), 'json'],
      ['revoked.pem', enc(pem), 'pem'],
      ['revoked.pem with blank lines and spaces', enc(`\n\n${pem.replace(/\n/g, ' \n')}\n`), 'pem'],
    ];
    for (const [label, bytes, kind] of variants) {
      const expected = referencePem(bytes, kind);
      assert.deepEqual(expected, der, `${label}: the reference`);
      for (const piece of [1, 2, 3, 5, 7, 64, 4096, 65536, 1 + Math.floor(random() * 9000)]) {
        assert.deepEqual(streamed(bytes, kind, piece, piece === 4096), der, `${label}, ${size} bytes, pieces of ${piece}`);
      }
    }
  }
});

test('the streamed decoder refuses what the reference refuses, with a reason', () => {
  const enc = (text: string) => new TextEncoder().encode(text);
  const pem = pemOf(randomBytes(3000));
  const cases: [string, string, 'json' | 'pem', RegExp][] = [
    ['no signed member', '{"nope": "x"}', 'json', /no "signed"/],
    ['signed not a string', '{"signed": ["x"]}', 'json', /no "signed"/],
    ['signed nested only', `{"a": {"signed": ${JSON.stringify(pem)}}}`, 'json', /no "signed"/],
    ['not JSON', `{"signed": ${JSON.stringify(pem)}`, 'json', /ends early|not JSON/],
    ['trailing garbage', `{"signed": ${JSON.stringify(pem)}} x`, 'json', /not JSON/],
    ['no PEM header', JSON.stringify({ signed: pem.slice(20) }), 'json', /not PEM CMS/],
    ['another label', JSON.stringify({ signed: pem.replace(/CMS/g, 'CERTIFICATE') }), 'json', /not PEM CMS/],
    ['mismatched footer', JSON.stringify({ signed: pem.replace('END CMS', 'END PKCS7') }), 'json', /not PEM CMS/],
    ['no footer', JSON.stringify({ signed: pem.slice(0, -18) }), 'json', /not PEM CMS/],
    ['text after the footer', JSON.stringify({ signed: `${pem}x` }), 'json', /after its PEM footer/],
    ['a bad base64 character', JSON.stringify({ signed: pem.replace(/A/, '*') }), 'json', /not valid base64/],
    ['url-safe base64', JSON.stringify({ signed: pem.replace(/[+]/, '-') }), 'json', /not PEM CMS|not valid base64/],
    ['a missing character', JSON.stringify({ signed: pem.replace(/[A-Za-z0-9+/]\n/, '\n') }), 'json', /not valid base64/],
    ['padding in the middle', JSON.stringify({ signed: pem.replace(/\n/, '=\n') }), 'json', /not valid base64/],
    ['non-ASCII in the PEM', JSON.stringify({ signed: pem.replace(/A/, 'Ä') }), 'json', /not valid base64/],
    ['a PEM file that is JSON', JSON.stringify({ signed: pem }), 'pem', /not PEM CMS/],
  ];
  for (const [label, text, kind, reason] of cases) {
    assert.throws(() => referencePem(enc(text), kind), Error, `${label}: the reference refuses`);
    for (const piece of [1, 7, 65536]) assert.throws(() => streamed(enc(text), kind, piece), reason, `${label}, pieces of ${piece}`);
  }
  // Deliberately stricter: Keystone's answer is {"signed": PEM} alone; more than 64 KB of anything else is
  // refused rather than held.
  const padded = enc(`{"pad": "${'x'.repeat(70_000)}", "signed": ${JSON.stringify(pem)}}`);
  assert.ok(referencePem(padded, 'json').length > 0);
  assert.throws(() => streamed(padded, 'json', 65536), /no "signed" revocation list within its first 64 KB/);
});

test('ids that share their leading bytes (one crowded bucket) are found, counted once, and others are not', () => {
  const ids = Array.from({ length: 5000 }, (_, i) => `000000${createHash('md5').update(`c${i}`).digest('hex').slice(6)}`);
  const text = JSON.stringify({ revoked: [...ids, ...ids.slice(0, 100)].map((id, i) => ({ id: i % 2 ? id.toUpperCase() : id, audit_id: audit(i % 3000) })) });
  const entries = new RevocationEntries(codec.scanContent(new TextEncoder().encode(text)));
  assert.equal(entries.size, 5000);
  assert.equal(entries.auditIds.size, 3000);
  for (const id of ids) assert.ok(entries.has(id), id);
  for (let i = 0; i < 3000; i++) assert.ok(entries.hasAuditId(audit(i)));
  for (let i = 0; i < 2000; i++) {
    assert.ok(!entries.has(`000000${createHash('md5').update(`other${i}`).digest('hex').slice(6)}`));
    assert.ok(!entries.has(createHash('md5').update(`other${i}`).digest('hex')));
  }
  assert.ok(!entries.hasAuditId(audit(3001)));
});

test('hasAuditId finds every audit id exactly as listed, in Keystone form or any other, and nothing else', () => {
  const listed = [audit(1), audit(2), `${audit(3).slice(0, 21)}B`, `${audit(4)}==`, 'short', 'ÄuditÏd', '', audit(5).toLowerCase(), '*'.repeat(22)];
  const text = JSON.stringify({ revoked: listed.map((audit_id, i) => ({ id: md5(i), audit_id })) });
  const entries = new RevocationEntries(codec.scanContent(new TextEncoder().encode(text)));
  for (const id of listed.filter((id) => id !== '')) assert.ok(entries.hasAuditId(id), id);
  for (const id of [audit(6), audit(1).toUpperCase(), `${audit(1).slice(0, 21)}B`, audit(3), 'shor', 'äuditïd', '+'.repeat(22)]) {
    assert.equal(entries.hasAuditId(id), listed.includes(id), id);
  }
});
