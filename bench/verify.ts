// Cold verification of one token: this library against the bare crypto.verify + SHA-256 baseline and against
// the `openssl cms -verify` subprocess the Python middleware spawns for every token. All measured in this run.
import { createHash, verify } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { inflateSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SigningMaterial } from '../src/index.js';
import { parseSignedData } from '../src/cms/signed-data.js';
import { tokenToDer } from '../src/token/format.js';
import { compareMicros } from './timing.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const read = (path: string) => readFileSync(FIXTURES + path, 'utf8');

export async function benchVerify(): Promise<Record<string, string | number>[]> {
  const material = new SigningMaterial({ signingCert: read('pki/signing-rsa.pem'), caCerts: read('pki/ca-chain.pem') });
  const rows: Record<string, string | number>[] = [];
  const opensslWorks = spawnSync('openssl', ['version']).status === 0;
  for (const [label, file] of [
    ['PKI ~5 KB', 'tokens/v3-5k.pki'],
    ['PKI ~10 KB', 'tokens/v3-10k.pki'],
    ['PKIZ (~5 KB body)', 'tokens/v3-5k.pkiz'],
  ] as const) {
    const token = read(file);
    const parsed = parseSignedData(tokenToDer(token));
    const signature = parsed.signerInfos[0]!.signature;
    const content = parsed.content;
    const key = material.signer.publicKey;
    // For PKIZ, a second baseline also inflates (node:zlib) and decodes the PEM text it holds: the part the format
    // itself imposes (keystoneclient compresses the PEM, not the DER).
    const compressed = file.endsWith('.pkiz') ? Buffer.from(token.slice('PKIZ_'.length), 'base64url') : undefined;
    const [baseline, ours, withInflate] = compareMicros([
      () => {
        createHash('sha256').update(content).digest();
        verify('sha256', content, key, signature);
      },
      () => material.verify(token),
      ...(compressed
        ? [
            () => {
              const pem = inflateSync(compressed).toString('latin1');
              Buffer.from(pem.slice(20, -18), 'base64');
              createHash('sha256').update(content).digest();
              verify('sha256', content, key, signature);
            },
          ]
        : []),
    ]) as [number, number, number | undefined];
    let openssl = NaN;
    if (opensslWorks) {
      const pem = read(file.replace(/\.pkiz?$/, '.pem'));
      const runs = 30;
      const start = process.hrtime.bigint();
      for (let i = 0; i < runs; i++) {
        const result = spawnSync('openssl', [
          'cms', '-verify', '-certfile', FIXTURES + 'pki/signing-rsa.pem', '-CAfile', FIXTURES + 'pki/ca-chain.pem',
          '-inform', 'PEM', '-nosmimecap', '-nodetach', '-nocerts', '-noattr', '-out', '/dev/null',
        ], { input: pem });
        if (result.status !== 0) throw new Error('openssl refused a fixture token');
      }
      openssl = Number(process.hrtime.bigint() - start) / runs / 1000;
    }
    rows.push({
      token: `${label} (${token.length} chars)`,
      'this library µs': ours.toFixed(1),
      'baseline µs': baseline.toFixed(1),
      'ratio to baseline (goal <= 1.5)': (ours / baseline).toFixed(2),
      'ratio to baseline + inflate + PEM decode': withInflate === undefined ? '-' : (ours / withInflate).toFixed(2),
      'openssl subprocess µs': Number.isNaN(openssl) ? 'openssl missing' : openssl.toFixed(0),
      'times faster than openssl (goal >= 50)': Number.isNaN(openssl) ? '-' : (openssl / ours).toFixed(0),
    });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('Cold verification of one token (RSA-2048, SHA-256), this run:');
  console.table(await benchVerify());
}
