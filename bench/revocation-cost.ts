// What a non-empty revocation list costs an uncached PKI token: validation (CMS verify, body, revocation check)
// with an empty list, a 10,000-entry list as Keystone writes it since Kilo (ids with audit ids), and a 10,000-entry
// list by token id only (pre-Kilo: every id Keystone could have written for the message is then computed).
// In-process identity server; the list is fetched once before timing (revocation_cache_time is long).
import { randomBytes } from 'node:crypto';
import { AuthProtocol, type Logger } from '../src/index.js';
import { newAuditId, startIdentityServer } from '../src/testing/index.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

async function perToken(kind: 'empty' | 'audit' | 'legacy', format: 'pki' | 'pkiz', rounds: number, iterations: number): Promise<{ us: number; tokenChars: number }[]> {
  const idp = await startIdentityServer();
  const ids = Array.from({ length: kind === 'empty' ? 0 : 10_000 }, () => randomBytes(16).toString('hex'));
  idp.revokeIds(ids, kind === 'audit' ? ids.map(() => newAuditId()) : undefined);
  const protocol = new AuthProtocol({ identity_uri: idp.url, ...idp.adminCredentials, logger: quiet, auth_version: 'v3', token_cache_time: -1, revocation_cache_time: 3600 });
  const token = await idp.issueToken({ catalogSize: 8, format });
  await protocol.validateToken(token); // certificates and list fetched
  const results: { us: number; tokenChars: number }[] = [];
  for (let round = 0; round < rounds; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await protocol.validateToken(token);
    results.push({ us: Number(process.hrtime.bigint() - start) / 1000 / iterations, tokenChars: token.length });
  }
  await protocol.close();
  await idp.close();
  return results;
}

export async function benchRevocationCost(): Promise<Record<string, string | number>[]> {
  const rows: Record<string, string | number>[] = [];
  for (const format of ['pki', 'pkiz'] as const) {
    const best = { empty: Infinity, audit: Infinity, legacy: Infinity };
    let chars = 0;
    // Alternating rounds, best of each: the machine's noise hits all three alike.
    for (let round = 0; round < 3; round++) {
      for (const kind of ['empty', 'audit', 'legacy'] as const) {
        const [r] = await perToken(kind, format, 1, 1500);
        best[kind] = Math.min(best[kind], r!.us);
        chars = r!.tokenChars;
      }
    }
    rows.push({
      token: `${format.toUpperCase()} (~5 KB body, ${chars} chars), uncached`,
      'empty list µs': best.empty.toFixed(1),
      '10k entries with audit ids µs': best.audit.toFixed(1),
      'ratio (goal <= 1.2)': (best.audit / best.empty).toFixed(2),
      '10k entries by id only (pre-Kilo) µs': best.legacy.toFixed(1),
      'pre-Kilo ratio': (best.legacy / best.empty).toFixed(2),
    });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) console.table(await benchRevocationCost());
