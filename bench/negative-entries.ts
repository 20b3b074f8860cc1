// Refused online tokens in the memory cache: heap growth against what the cache reckons (cacheMaxBytes), for 2,000
// garbage tokens of 15,000 characters the test identity server answers 404. Run: node --expose-gc --import tsx bench/negative-entries.ts
import { randomBytes } from 'node:crypto';
import { AuthProtocol } from '../src/index.js';
import { startIdentityServer } from '../src/testing/index.js';

const COUNT = 2000;
const LENGTH = 15_000;
const idp = await startIdentityServer();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const protocol = new AuthProtocol({ identity_uri: idp.url, ...idp.adminCredentials, auth_version: 'v3', www_authenticate_uri: 'http://k/', logger: quiet, maxOnlineTokenLength: 65536 });
await protocol.adminToken.get();
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
gc();
const before = process.memoryUsage().heapUsed;
for (let i = 0; i < COUNT; i++) {
  const token = randomBytes((LENGTH * 3) / 4).toString('base64url'); // flat, as a header value is
  const decision = await protocol.validate({ 'x-auth-token': token });
  if (decision.status !== 'invalid') throw new Error(`expected invalid, got ${decision.status}`);
}
idp.requests.length = 0; // the test server records each request's X-Subject-Token: not the middleware's memory
gc();
const grown = process.memoryUsage().heapUsed - before;
const mib = (n: number) => (n / 1048576).toFixed(2);
console.log(`${COUNT} refused tokens of ${LENGTH} characters: heap +${mib(grown)} MiB, reckoned ${mib(protocol.cache.calculatedSize)} MiB (${protocol.cache.size} entries), ratio ${(grown / protocol.cache.calculatedSize).toFixed(2)}`);
await protocol.close();
await idp.close();
