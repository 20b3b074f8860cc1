// Cold verification of one token: this library against its true floor (decoding the format + one crypto.verify)
// and against the `openssl cms -verify` subprocess the Python middleware spawns for every token. One run.
import { verify } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { inflateSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SigningMaterial } from '../src/index.js';
import { parseSignedData } from '../src/cms/signed-data.js';
import { tokenToDer } from '../src/token/format.js';
import { certificateFromPem, signCms, toPkiToken, toPkizToken } from '../src/testing/index.js';
import { compareMicros } from './timing.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const read = (path: string) => readFileSync(FIXTURES + path, 'utf8');

/** A v3 token body of about `bytes` bytes (a catalog of the size needed). */
function bodyOf(bytes: number): Buffer {
  const base = JSON.parse(read('bodies/v3.json')) as { token: { catalog?: unknown[] } };
  const service = (i: number) => ({ type: `service-${i}`, name: `svc${i}`, id: `id-${i}`, endpoints: [{ interface: 'public', region: 'RegionOne', url: `https://svc${i}.example.com:8774/v2.1`, id: `e${i}` }] });
  const catalog: unknown[] = [];
  let text = JSON.stringify(base);
  while (text.length < bytes) {
    catalog.push(service(catalog.length));
    base.token.catalog = catalog;
    text = JSON.stringify(base);
  }
  return Buffer.from(text);
}

/**
 * Cold verification against its true floor, measured in the same run: the format's decoding (base64; for PKIZ
 * also inflate and the PEM's base64) and one crypto.verify (which hashes the content itself: the floor does not
 * hash it twice). Bodies from 1 to 64 KB, signed with the fixture key as keystoneclient would.
 */
export async function benchVerify(): Promise<Record<string, string | number>[]> {
  const material = new SigningMaterial({ signingCert: read('pki/signing-rsa.pem'), caCerts: read('pki/ca-chain.pem') });
  const signer = certificateFromPem(read('pki/signing-rsa.pem'), read('pki/signing-rsa.key'));
  const key = material.signer.publicKey;
  const rows: Record<string, string | number>[] = [];
  const opensslWorks = spawnSync('openssl', ['version']).status === 0;
  for (const kb of [1, 5, 15, 60]) {
    const der = signCms(bodyOf(kb * 1024), signer);
    // A PKI token starts "MII" only while its DER is under 16 KiB (keystoneclient's is_asn1_token, and ours, read
    // anything else as an online token): larger bodies exist only as PKIZ.
    for (const format of der.length < 16384 ? (['PKI', 'PKIZ'] as const) : (['PKIZ'] as const)) {
      const token = format === 'PKI' ? toPkiToken(der) : toPkizToken(der);
      const whole = tokenToDer(token);
      const parsed = parseSignedData(whole);
      const signature = Buffer.from(parsed.signerInfos[0]!.signature);
      // Where the signed content lies in the DER: the floor knows it for free, the library has to find it.
      const from = parsed.content.byteOffset - whole.byteOffset;
      const to = from + parsed.content.length;
      // The floor: the format's decoding as the token arrives (for PKIZ its base64url, the inflate and the PEM's
      // base64), then one crypto.verify of the content at its known place. Its bytes are checked once below.
      const decode = format === 'PKIZ'
        ? () => {
            const pem = inflateSync(Buffer.from(token.slice('PKIZ_'.length), 'base64url')).toString('latin1');
            return Buffer.from(pem.slice(20, -18), 'base64');
          }
        : // PKI tokens write "/" as "-": Node's base64 decoder reads "-" as "+" (62), so the correct bytes need the
          // "/" back (an earlier floor skipped this and decoded other bytes, on Node's slower path for "-").
          () => Buffer.from(token.replace(/-/g, '/'), 'base64');
      if (!decode().equals(whole)) throw new Error(`floor: ${format} decoding gives other bytes than the token's DER`);
      const floor = () => {
        if (!verify('sha256', decode().subarray(from, to), key, signature)) throw new Error('floor: signature');
      };
      const [ours, base] = compareMicros([() => material.verify(token), floor]) as [number, number];
      let openssl = NaN;
      if (opensslWorks && kb === 5) {
        const pem = `-----BEGIN CMS-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CMS-----\n`;
        const runs = 20;
        const start = process.hrtime.bigint();
        for (let i = 0; i < runs; i++) {
          const result = spawnSync('openssl', [
            'cms', '-verify', '-certfile', FIXTURES + 'pki/signing-rsa.pem', '-CAfile', FIXTURES + 'pki/ca-chain.pem',
            '-inform', 'PEM', '-nosmimecap', '-nodetach', '-nocerts', '-noattr', '-out', '/dev/null',
          ], { input: pem });
          if (result.status !== 0) throw new Error('openssl refused a bench token');
        }
        openssl = Number(process.hrtime.bigint() - start) / runs / 1000;
      }
      rows.push({
        token: `${format} ${kb} KB body (${token.length} chars)`,
        'this library µs': ours.toFixed(1),
        'floor µs': base.toFixed(1),
        'ratio to floor (goal <= 1.15)': (ours / base).toFixed(2),
        'openssl subprocess µs': Number.isNaN(openssl) ? '-' : openssl.toFixed(0),
        'times faster than openssl': Number.isNaN(openssl) ? '-' : (openssl / ours).toFixed(0),
      });
    }
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('Cold verification of one token (RSA-2048, SHA-256), this run:');
  console.table(await benchVerify());
}
