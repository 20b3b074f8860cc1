// The most expensive PKIZ tokens an unauthenticated client can craft under the default limits (maxTokenLength
// 64 KiB, maxInflatedBytes 1 MiB; tokens of at most ~10 KB, as fit in node's default 16 KiB of headers), each
// against a normal token's verification, measured in the same run through AuthProtocol.validate with the token
// cache off (every normal request is a full verification). "cold": each request a new variant of the attack (an
// attacker changes one byte per request: no cache, no memo can help); "again": the same token repeated.
import { randomBytes, createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { AuthProtocol, type Logger } from '../src/index.js';
import { encodeOid, encodeTlv, encodeUnsignedInteger, sequence, set } from '../src/cms/der.js';
import { parseSignedData } from '../src/cms/signed-data.js';
import { cmsPem, tokenToDer } from '../src/token/format.js';
import { startIdentityServer, type IdentityServer, type TestCertificate } from '../src/testing/index.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_DATA = '1.2.840.113549.1.7.1';
const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
const OID_SHA1 = '1.3.14.3.2.26';
const OID_RSA = '1.2.840.113549.1.1.1';
const OID_SHA256_RSA = '1.2.840.113549.1.1.11';
const SHA256_ALG = sequence(encodeOid(OID_SHA256));
const RSA_ALG = sequence(encodeOid(OID_RSA), Buffer.from([5, 0]));
/** The longest token the attack uses (characters): what fits in node's default 16 KiB of headers, as in the issue. */
const TOKEN_CHARS = 10_240;

interface Parts {
  contentType?: Buffer;
  digests?: Buffer[];
  content: Buffer;
  certificates?: Buffer[];
  crls?: Buffer[];
  signerInfos: Buffer[];
}

function signedData(p: Parts): Buffer {
  const body = sequence(
    encodeUnsignedInteger(Buffer.from([1])),
    set(...(p.digests ?? [SHA256_ALG])),
    sequence(encodeOid(OID_DATA), encodeTlv(0xa0, encodeTlv(0x04, p.content))),
    ...(p.certificates ? [encodeTlv(0xa0, Buffer.concat(p.certificates))] : []),
    ...(p.crls ? [encodeTlv(0xa1, Buffer.concat(p.crls))] : []),
    set(...p.signerInfos),
  );
  return sequence(p.contentType ?? encodeOid(OID_SIGNED_DATA), encodeTlv(0xa0, body));
}

function signerInfo(sid: Buffer, opts: { signature?: Buffer; attributes?: Buffer; filler?: Buffer; digest?: Buffer; version?: number } = {}): Buffer {
  return sequence(
    encodeUnsignedInteger(Buffer.from([opts.version ?? 1])),
    sid,
    opts.digest ?? SHA256_ALG,
    ...(opts.attributes ? [opts.attributes] : []),
    RSA_ALG,
    encodeTlv(0x04, opts.signature ?? randomBytes(256)),
    // Random bytes where nothing reads them (unsigned attributes): they raise the compressed size, and so any
    // bound on the inflated size relative to it, to what a token of TOKEN_CHARS allows.
    ...(opts.filler && opts.filler.length > 0 ? [encodeTlv(0xa1, sequence(encodeOid('1.2.3.4'), set(encodeTlv(0x04, opts.filler))))] : []),
  );
}

const byIssuerSerial = (c: TestCertificate, serial = c.serial) => sequence(c.issuerName, encodeUnsignedInteger(serial));
/** keystoneclient's PKIZ form (urlsafe base64 with padding), compressed at level 9: the most bytes per character. */
const pkiz = (der: Buffer) => 'PKIZ_' + deflateSync(cmsPem(der), { level: 9 }).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');

/** A CRL of `entries` revoked certificates (structure only: its signature is random). */
function crl(issuer: Buffer, entries: number, nonce: Buffer): Buffer {
  const time = encodeTlv(0x17, Buffer.from('250101000000Z'));
  const revoked: Buffer[] = [];
  for (let i = 0; i < entries; i++) revoked.push(sequence(encodeUnsignedInteger(Buffer.from([0x10, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff])), time));
  const tbs = sequence(encodeUnsignedInteger(Buffer.from([1])), sequence(encodeOid(OID_SHA256_RSA), Buffer.from([5, 0])), issuer, time, time, sequence(...revoked));
  return sequence(tbs, sequence(encodeOid(OID_SHA256_RSA), Buffer.from([5, 0])), encodeTlv(0x03, Buffer.concat([Buffer.from([0]), nonce, Buffer.alloc(240)])));
}

/** `depth` nested SEQUENCEs (long-form lengths), innermost an INTEGER. */
function nested(depth: number): Buffer {
  let inner = encodeTlv(0x02, Buffer.from([1]));
  for (let i = 0; i < depth; i++) inner = sequence(inner);
  return inner;
}

interface Attack {
  name: string;
  /** One token of about `payload` DER bytes, `filler` random bytes, distinct per `nonce`. */
  build(payload: number, filler: Buffer, nonce: Buffer): Buffer;
}

function attacks(idp: IdentityServer, valid: { content: Buffer; signature: Buffer }): Attack[] {
  const signer = idp.pki.signing;
  const certs = (bytes: number, nonce: Buffer) => {
    const copy = Buffer.from(signer.der);
    nonce.copy(copy, copy.length - nonce.length); // in the certificate's signature: parses the same, differs per variant
    return Array.from({ length: Math.max(1, Math.floor(bytes / copy.length)) }, () => copy);
  };
  const other = (nonce: Buffer) => byIssuerSerial(signer, Buffer.concat([Buffer.from([0x42]), nonce]));
  const real = byIssuerSerial(signer);
  const body = Buffer.from('{"token":{}}');
  const attributes = (content: Buffer, extra: Buffer[]) =>
    encodeTlv(0xa0, Buffer.concat([
      sequence(encodeOid('1.2.840.113549.1.9.3'), set(encodeOid(OID_DATA))),
      sequence(encodeOid('1.2.840.113549.1.9.4'), set(encodeTlv(0x04, createHash('sha256').update(content).digest()))),
      ...extra,
    ]));
  return [
    { name: 'certificates: copies of a real certificate, another signer named', build: (n, f, nonce) => signedData({ content: body, certificates: certs(n, nonce), signerInfos: [signerInfo(other(nonce), { filler: f })] }) },
    { name: 'certificates: copies, the real signer named, forged signature', build: (n, f, nonce) => signedData({ content: body, certificates: certs(n, nonce), signerInfos: [signerInfo(real, { filler: f })] }) },
    { name: 'certificates: copies, added to a validly signed token', build: (n, f, nonce) => signedData({ content: valid.content, certificates: certs(n, nonce), signerInfos: [signerInfo(real, { signature: valid.signature, filler: f })] }) },
    { name: 'crls: one CRL of many entries, another signer named', build: (n, f, nonce) => signedData({ content: body, crls: [crl(signer.issuerName, Math.floor(n / 21), nonce)], signerInfos: [signerInfo(other(nonce), { filler: f })] }) },
    { name: 'crls: one CRL of many entries, added to a validly signed token', build: (n, f, nonce) => signedData({ content: valid.content, crls: [crl(signer.issuerName, Math.floor(n / 21), nonce)], signerInfos: [signerInfo(real, { signature: valid.signature, filler: f })] }) },
    { name: 'certificates: deep nesting, another signer named', build: (n, f, nonce) => signedData({ content: body, certificates: [nested(Math.floor(n / 6))], signerInfos: [signerInfo(other(nonce), { filler: f })] }) },
    { name: 'zlib bomb: large signed content, real signer, forged signature', build: (n, f, nonce) => signedData({ content: Buffer.concat([nonce, Buffer.alloc(n)]), signerInfos: [signerInfo(real, { filler: f })] }) },
    {
      name: 'zlib bomb: large content, signed attributes with its right digest, forged signature',
      build: (n, f, nonce) => {
        const content = Buffer.concat([nonce, Buffer.alloc(n)]);
        return signedData({ content, signerInfos: [signerInfo(real, { attributes: attributes(content, []), filler: f })] });
      },
    },
    {
      name: 'signed attributes: thousands of attributes, real signer, forged signature',
      build: (n, f, nonce) => {
        const extra: Buffer[] = [];
        for (let i = 0; extra.length * 16 < n; i++) extra.push(sequence(encodeOid(`1.2.3.${i}`), set(encodeTlv(0x04, nonce.subarray(0, 4)))));
        return signedData({ content: body, signerInfos: [signerInfo(real, { attributes: attributes(body, extra), filler: f })] });
      },
    },
    {
      name: 'many SignerInfos x many digestAlgorithms (quadratic), real signer',
      build: (n, f, nonce) => {
        const digests = [...Array.from({ length: Math.floor(n / 2 / 7) }, () => sequence(encodeOid(OID_SHA1))), SHA256_ALG];
        const one = signerInfo(real, { signature: Buffer.alloc(1) });
        const infos = [signerInfo(real, { signature: nonce, filler: f }), ...Array.from({ length: Math.floor(n / 2 / one.length) }, () => one)];
        return signedData({ content: body, digests, signerInfos: infos });
      },
    },
    {
      name: 'long OBJECT IDENTIFIER (ContentInfo contentType)',
      build: (n, f, nonce) => signedData({ contentType: encodeTlv(0x06, Buffer.concat([nonce.map((b) => b & 0x7f), Buffer.alloc(n, 0x01)])), content: body, signerInfos: [signerInfo(real, { filler: f })] }),
    },
  ];
}

/** The token for an attack at a payload size, padded with random bytes up to TOKEN_CHARS (never over). */
function craft(attack: Attack, payload: number, nonce: Buffer): string {
  const token = pkiz(attack.build(payload, Buffer.alloc(0), nonce));
  if (token.length > TOKEN_CHARS) return '';
  // Random bytes compress to themselves: each adds about 4/3 characters. Two or three tries land under the cap.
  let filler = Math.floor(((TOKEN_CHARS - token.length) * 3) / 4) - 32;
  for (let tries = 0; filler > 0 && tries < 6; tries++) {
    const padded = pkiz(attack.build(payload, randomBytes(filler), nonce));
    if (padded.length <= TOKEN_CHARS) return padded;
    filler -= Math.ceil(((padded.length - TOKEN_CHARS) * 3) / 4) + 16;
  }
  return token;
}

/** Median microseconds per request (a busy neighbour inflates a mean, rarely a median), and the last outcome. */
async function microsPerRequest(protocol: AuthProtocol, tokens: () => string, minMs: number, maxRuns: number): Promise<{ micros: number; outcome: string }> {
  let outcome = '';
  const times: number[] = [];
  let spent = 0;
  while (times.length < maxRuns && (times.length < 9 || spent < minMs * 1000)) {
    const token = tokens();
    if (!token) break;
    const start = process.hrtime.bigint();
    const decision = await protocol.validate({ 'x-auth-token': token });
    const micros = Number(process.hrtime.bigint() - start) / 1000;
    times.push(micros);
    spent += micros;
    outcome = decision.status === 'confirmed' ? '200' : `${decision.status === 'invalid' ? 401 : 503} ${decision.error.code}`;
  }
  times.sort((x, y) => x - y);
  return { micros: times.length ? times[Math.floor(times.length / 2)]! : NaN, outcome };
}

export async function benchHostileTokens(): Promise<Record<string, string | number>[]> {
  const idp = await startIdentityServer();
  const protocol = new AuthProtocol({
    identity_uri: idp.url, ...idp.adminCredentials, logger: quiet, auth_version: 'v3', token_cache_time: -1,
    certificateRefetchCooldown: 3600, // no refetch in the middle of the run (a refetch is network time, not CPU)
  });
  const normal = await idp.issueToken({ format: 'pkiz', catalogSize: 100 });
  const small = await idp.issueToken({ format: 'pkiz', catalogSize: 5 });
  await protocol.validate({ 'x-auth-token': normal }); // certificates and revocation list fetched
  const parsed = parseSignedData(tokenToDer(small)); // a holder of any (even expired) token: the smallest
  const valid = { content: Buffer.from(parsed.content), signature: Buffer.from(parsed.signerInfos[0]!.signature) };

  const baseline = async () => (await microsPerRequest(protocol, () => normal, 300, 100_000)).micros;
  const rows: Record<string, string | number>[] = [];
  let normalMicros = Infinity;
  for (let i = 0; i < 5; i++) normalMicros = Math.min(normalMicros, await baseline());
  const smallMicros = (await microsPerRequest(protocol, () => small, 300, 100_000)).micros;
  rows.push({ token: `normal PKIZ, catalog of 100 (${normal.length} chars)`, 'payload KB': '-', 'cold µs/request': normalMicros.toFixed(0), 'x normal': '1.00', 'again µs': '-', outcome: '200' });
  rows.push({ token: `normal PKIZ, catalog of 5 (${small.length} chars)`, 'payload KB': '-', 'cold µs/request': smallMicros.toFixed(0), 'x normal': (smallMicros / normalMicros).toFixed(2), 'again µs': '-', outcome: '200' });
  let worst = 0;
  for (const attack of attacks(idp, valid)) {
    // The most expensive payload size for this attack (bounds on the inflated size make smaller ones the worst).
    let best: { micros: number; outcome: string; again: number; payload: number; chars: number } | undefined;
    for (const payload of [720_000, 240_000, 120_000, 60_000, 20_000, 6_000]) {
      const first = craft(attack, payload, randomBytes(8));
      if (!first) continue;
      let served = 0;
      const cold = await microsPerRequest(protocol, () => (served++ === 0 ? first : craft(attack, payload, randomBytes(8))), 100, 15);
      const again = await microsPerRequest(protocol, () => first, 50, 200);
      if (!best || cold.micros > best.micros) best = { ...cold, again: again.micros, payload, chars: first.length };
    }
    if (!best) continue;
    worst = Math.max(worst, best.micros);
    rows.push({
      token: `${attack.name} (${best.chars} chars)`,
      'payload KB': Math.round(best.payload / 1024),
      'cold µs/request': best.micros.toFixed(0),
      'x normal': (best.micros / normalMicros).toFixed(2),
      'again µs': best.again.toFixed(0),
      outcome: best.outcome,
    });
  }
  rows.push({ token: 'WORST attack vs normal (goal <= 3)', 'payload KB': '-', 'cold µs/request': worst.toFixed(0), 'x normal': (worst / normalMicros).toFixed(2), 'again µs': '-', outcome: '-' });
  await protocol.close();
  await idp.close();
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`Hostile PKIZ tokens of at most ${TOKEN_CHARS} characters, median µs per request against a normal token (this run):`);
  console.table(await benchHostileTokens());
  process.exit(0);
}
