// A revocation refresh that fails (issue 19, family 9) must not storm the identity server: whatever the traffic,
// one download per back-off interval (exponential from revocation_cache_time, with jitter, capped), single-flight,
// and the 503s it causes say in Retry-After when the next try is.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthProtocol } from '../../src/index.js';
import { RevocationList } from '../../src/signing/revocations.js';
import { startIdentityServer, type Fault, type IdentityServer } from '../../src/testing/index.js';
import { CapturingLogger, startApp, tempDir } from '../helpers/app.js';

const LIST = '/v3/auth/tokens/OS-PKI/revoked';

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
  // Large enough to be read on the worker thread (and the unparseable one to fail only at its very end).
  idp.revokeIds(Array.from({ length: 5_000 }, () => randomBytes(16).toString('hex')), Array.from({ length: 5_000 }, () => randomBytes(16).toString('base64url')));
});
after(() => idp.close());

const failures: { name: string; fault: Fault; options?: Record<string, unknown> }[] = [
  { name: 'signed content that does not parse', fault: 'unparseable-revocation-list' },
  { name: 'HTTP 500', fault: 'error' },
  { name: 'an answer cut short', fault: 'truncated' },
  { name: 'garbage', fault: 'garbage' },
  { name: 'an answer over revocationListMaxBytes', fault: null, options: { revocationListMaxBytes: 64 * 1024 } },
];

for (const { name, fault, options } of failures) {
  test(`a failing revocation refresh (${name}): 60 concurrent and 40 repeated requests cause one download; every 503 says when the next try is`, async () => {
    const app = await startApp(idp, { auth_version: 'v3', revocation_cache_time: 60, ...options });
    const token = await idp.issueToken({ user: 'alice' });
    try {
      // The certificates first (they are not what this test is about), then the failure.
      await app.auth.protocol.certificates.current();
      await app.auth.protocol.adminToken.get();
      await idp.setFault(fault);
      const mark = idp.count(LIST);
      const startedAt = Date.now();
      const concurrent = await Promise.all(Array.from({ length: 60 }, () => app.get({ 'x-auth-token': token })));
      const repeated = [];
      for (let i = 0; i < 40; i++) repeated.push(await app.get({ 'x-auth-token': token }));
      const endedAt = Date.now();
      assert.equal(idp.count(LIST) - mark, 1, 'one download for 100 requests');
      const backoff = app.auth.protocol.revocations.backoff;
      assert.ok(backoff && backoff.failures === 1, JSON.stringify(backoff));
      // The first wait is revocation_cache_time, less up to 20 % of jitter.
      assert.ok(backoff.retryAt - endedAt >= 48_000 - (endedAt - startedAt) && backoff.retryAt - startedAt <= 60_000 + (endedAt - startedAt), `${backoff.retryAt - endedAt}`);
      for (const { status, keystone, response } of [...concurrent, ...repeated]) {
        assert.equal(status, 503);
        assert.equal(keystone.error.reason, 'ERR_REVOCATION_LIST_STALE');
        const retryAfter = Number(response.headers.get('retry-after'));
        assert.ok(Number.isInteger(retryAfter), `Retry-After ${response.headers.get('retry-after')}`);
        assert.ok(retryAfter >= Math.floor((backoff.retryAt - endedAt) / 1000) && retryAfter <= Math.ceil((backoff.retryAt - startedAt) / 1000), `Retry-After ${retryAfter}, next try in ${backoff.retryAt - endedAt} ms`);
      }
      const health = app.auth.health();
      assert.equal(health.revocationList, undefined, 'no list yet');
      assert.equal(app.logger.lines.filter((line) => /cannot refresh the revocation list/.test(line.message)).length, 1, 'warned once');
    } finally {
      await idp.setFault(null);
      await app.close();
    }
  });
}

test('a revocation list answer cut short costs one download per failing refresh, whatever http_request_max_retries (the back-off is its retry)', async () => {
  // http_request_max_retries 3 (the default): the other requests to the identity server still retry transport
  // failures; the list's download does not (it was 1 + 3 downloads of a list of any size per interval).
  const app = await startApp(idp, { auth_version: 'v3', revocation_cache_time: 60, http_request_max_retries: 3 });
  const token = await idp.issueToken({ user: 'alice' });
  try {
    await app.auth.protocol.certificates.current();
    await app.auth.protocol.adminToken.get();
    await idp.setFault('truncated');
    const mark = idp.count(LIST);
    const { status, keystone } = await app.get({ 'x-auth-token': token });
    assert.equal(status, 503);
    assert.equal(keystone.error.reason, 'ERR_REVOCATION_LIST_STALE');
    assert.equal(idp.count(LIST) - mark, 1, 'one download for one failing refresh');
    assert.equal(app.auth.protocol.revocations.backoff?.failures, 1);
    // A refresh asked for (after a revocation, say) is one more download, not four.
    await assert.rejects(app.auth.protocol.revocations.refresh());
    assert.equal(idp.count(LIST) - mark, 2, 'one download per refresh');
  } finally {
    await idp.setFault(null);
    await app.close();
  }
});

test('a list that verifies but does not parse is not written to revoked.pem: the file keeps the last good list', async () => {
  const signingDir = tempDir('kat-signing-');
  const app = await startApp(idp, { auth_version: 'v3', revocation_cache_time: 60, signing_dir: signingDir });
  try {
    await app.auth.protocol.revocations.refresh();
    const good = readFileSync(join(signingDir, 'revoked.pem'));
    await idp.setFault('unparseable-revocation-list');
    await assert.rejects(app.auth.protocol.revocations.refresh());
    assert.ok(readFileSync(join(signingDir, 'revoked.pem')).equals(good), 'revoked.pem unchanged');
    assert.deepEqual(readdirSync(signingDir).filter((name) => name.endsWith('.tmp')), [], 'no temporary file left');
  } finally {
    await idp.setFault(null);
    await app.close();
  }
});

/** A list on a clock of the test's: downloads as time passes, with requests arriving all the while. */
async function clocked(cacheTimeSeconds: number, maxStalenessSeconds = 300) {
  const logger = new CapturingLogger();
  const protocol = new AuthProtocol({ identity_uri: idp.url, ...idp.adminCredentials, www_authenticate_uri: idp.url, auth_version: 'v3', signing_dir: tempDir(), http_request_max_retries: 0, logger });
  const clock = { now: Date.now() };
  const list = new RevocationList({
    dir: protocol.signingDir,
    client: protocol.client,
    versions: protocol.versions,
    adminToken: protocol.adminToken,
    certificates: protocol.certificates,
    logger,
    cacheTimeMs: cacheTimeSeconds * 1000,
    maxStalenessMs: maxStalenessSeconds * 1000,
    maxBytes: 256 * 1024 * 1024,
    now: () => clock.now,
    random: () => 0, // no jitter: the schedule is exact
  });
  await protocol.certificates.current();
  /** Five concurrent requests at each step of `stepMs` for `forMs`: the times (offsets from the start) of the downloads. */
  const traffic = async (forMs: number, stepMs: number) => {
    const start = clock.now;
    const downloads: number[] = [];
    let seen = idp.count(LIST);
    const outcomes = { served: 0, refused: 0 };
    for (let at = 0; at <= forMs; at += stepMs) {
      clock.now = start + at;
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => list.ids()));
      for (const result of results) {
        if (result.status === 'fulfilled') outcomes.served++;
        else {
          outcomes.refused++;
          const error = result.reason as { code: string; retryAfterSeconds: number };
          assert.equal(error.code, 'ERR_REVOCATION_LIST_STALE');
          assert.equal(error.retryAfterSeconds, Math.max(1, Math.ceil((list.backoff!.retryAt - clock.now) / 1000)));
        }
      }
      await new Promise((resolve) => setImmediate(resolve)); // a background refresh, if one started, to its end
      while (list['inFlight']) await list['inFlight'].catch(() => {});
      const count = idp.count(LIST);
      for (; seen < count; seen++) downloads.push(at);
    }
    return { downloads, outcomes };
  };
  return { list, protocol, clock, traffic, logger };
}

test('on a failing list, downloads follow the back-off exactly (10, 20, 40, 80, 160 s, then capped), whatever the traffic; one success ends it', async () => {
  const { list, protocol, traffic, logger } = await clocked(10);
  try {
    await idp.setFault('unparseable-revocation-list');
    const failing = await traffic(700_000, 500);
    // Without a list, every request in between is refused at once, with the time to the next try.
    assert.deepEqual(failing.downloads, [0, 10_000, 30_000, 70_000, 150_000, 310_000, 470_000, 630_000]);
    assert.equal(failing.outcomes.served, 0);
    assert.equal(list.backoff?.failures, 8);
    assert.equal(logger.lines.filter((line) => line.level === 'warn' && /cannot refresh/.test(line.message)).length, 4, 'warned at failures 1, 2, 4 and 8');
    await idp.setFault(null);
    const healed = await traffic(150_000, 500);
    // The traffic goes on from 700 s; the eighth try (630 s) waits the cap, 160 s: the next try is at 790 s.
    assert.equal(healed.downloads[0], 90_000, 'the next try, when the back-off says');
    assert.equal(list.backoff, undefined, 'one success ends the back-off');
    // Then a refresh per revocation_cache_time, as before.
    assert.deepEqual(healed.downloads, [90_000, 100_000, 110_000, 120_000, 130_000, 140_000, 150_000]);
  } finally {
    await idp.setFault(null);
    await protocol.close();
  }
});

test('with a list in hand, failing refreshes back off while the list serves until the staleness bound', async () => {
  const { list, protocol, clock, traffic } = await clocked(10, 60);
  try {
    await list.refresh();
    const fetchedAt = clock.now;
    await idp.setFault('error');
    const run = await traffic(100_000, 500);
    // Due at 10 s (fails), then 10 s later, then 20, then 40 (capped by nothing yet).
    assert.deepEqual(run.downloads, [10_000, 20_000, 40_000, 80_000]);
    // Served up to revocation_cache_time + revocationMaxStaleness after the last fetch (70 s), refused after.
    assert.equal(run.outcomes.served, 5 * Math.ceil((70_000 - (clock.now - 100_000 - fetchedAt)) / 500));
    assert.ok(run.outcomes.refused > 0);
  } finally {
    await idp.setFault(null);
    await protocol.close();
  }
});
