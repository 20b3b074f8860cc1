import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createTlsServer } from 'node:tls';
import { AuthProtocol, type AuthTokenOptions } from '../../src/index.js';
import { startIdentityServer, tokenBody, type IdentityServer } from '../../src/testing/index.js';
import { SharedTokenCache } from '../../src/cache/shared-cache.js';
import { MemcachedStore } from '../../src/cache/memcached-store.js';
import { loadMemcachedTls } from '../../src/cache/memcached-tls.js';
import { Memcached, freePort, memcachedBinary } from '../helpers/memcached.js';
import { CapturingLogger, tempDir } from '../helpers/app.js';
import { PYTHON_TOKEN_CACHE } from '../helpers/python-token-cache.js';
import { CA_EXTENSIONS, OpensslPki, type OpensslCertificate } from '../helpers/openssl-pki.js';

/**
 * TLS to memcached (memcache_tls_*) against Debian's memcached started with -Z: certificates made by openssl here.
 * One memcached serves TLS on one port and, for Python keystonemiddleware 10.1 (which has no memcache_tls_*
 * options), plain TCP on another ("notls:" listener): the same entries, read by both.
 */

let idp: IdentityServer;
let pki: OpensslPki;
let ca: OpensslCertificate;
let otherCa: OpensslCertificate;
let client: OpensslCertificate;
let tlsServer: Memcached; // TLS, plus a plain listener for Python
let plainPort = 0;
let mutualServer: Memcached; // TLS, client certificate required
let plainServer: Memcached; // no TLS at all
const LEAF = 'basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment';

function tlsSupported(): string | undefined {
  const binary = memcachedBinary();
  if (!binary) return 'memcached is not installed (apt-get install -y memcached)';
  const help = spawnSync(binary, ['-h'], { encoding: 'utf8' }).stdout;
  return /enable-ssl/.test(help) ? undefined : `${binary} was built without TLS (-Z, --enable-ssl missing from -h)`;
}

before(async () => {
  const missing = tlsSupported();
  if (missing) throw new Error(missing);
  idp = await startIdentityServer();
  pki = new OpensslPki();
  ca = pki.issue('memcached-ca', { subject: '/CN=memcached test CA', extensions: CA_EXTENSIONS });
  otherCa = pki.issue('other-ca', { subject: '/CN=some other CA', extensions: CA_EXTENSIONS });
  const server = pki.issue('memcached-server', { subject: '/CN=memcached', issuer: ca, extensions: `${LEAF}\nextendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1, DNS:localhost` });
  client = pki.issue('memcached-client', { subject: '/CN=api-node', issuer: ca, extensions: `${LEAF}\nextendedKeyUsage = clientAuth` });
  const tls = (extra = '') => ['-Z', '-o', `ssl_chain_cert=${server.path},ssl_key=${server.keyPath}${extra}`];
  plainPort = await freePort();
  tlsServer = await Memcached.start(undefined, [...tls(), '-l', `notls:127.0.0.1:${plainPort}`]);
  mutualServer = await Memcached.start(undefined, tls(`,ssl_ca_cert=${ca.path},ssl_verify_mode=2`));
  plainServer = await Memcached.start();
});

after(async () => {
  for (const server of [tlsServer, mutualServer, plainServer]) await server?.stop();
  await idp?.close();
});

function options(server: string, tls: Record<string, string | boolean>, logger: CapturingLogger, extra: Partial<AuthTokenOptions> = {}): AuthTokenOptions {
  return {
    identity_uri: idp.url, ...idp.adminCredentials, www_authenticate_uri: 'http://keystone.example.test/', signing_dir: tempDir(),
    http_request_max_retries: 0, logger, memcached_servers: server, memcacheTimeout: 1500, memcache_tls_enabled: true, ...tls, ...extra,
  };
}

/** Validates a token with a fresh middleware (a fresh process would do the same: its memory cache is empty). */
async function validateOnce(opts: AuthTokenOptions, token: string) {
  const protocol = new AuthProtocol(opts);
  try {
    const decision = await protocol.validate({ 'x-auth-token': token });
    return { status: decision.status, user: decision.status === 'confirmed' ? decision.identity.user.id : undefined, stats: protocol.stats };
  } finally {
    await protocol.close();
  }
}

const rows: string[] = [];
const row = (scenario: string, outcome: string) => rows.push(`| ${scenario} | ${outcome} |`);

for (const strategy of ['None', 'ENCRYPT'] as const) {
  test(`two nodes share entries over TLS (memcache_security_strategy ${strategy}): the second validates from memcached`, async () => {
    const security = strategy === 'None' ? {} : { memcache_security_strategy: strategy, memcache_secret_key: 'fleet secret' };
    const logger = new CapturingLogger();
    const opts = options(`127.0.0.1:${tlsServer.port}`, { memcache_tls_cafile: ca.path }, logger, security);
    const token = await idp.issueToken({ user: `tls-${strategy}`, format: 'pkiz' });
    const first = await validateOnce(opts, token);
    assert.equal(first.status, 'confirmed');
    assert.equal(first.stats.cmsVerifications, 1);
    const second = await validateOnce(opts, token);
    assert.equal(second.status, 'confirmed');
    assert.equal(second.user, `tls-${strategy}-id`);
    assert.equal(second.stats.cmsVerifications, 0, 'the second node read the first one\'s entry over TLS');
    assert.equal(second.stats.cacheHits, 1);
    assert.doesNotMatch(logger.text(), /unavailable|TLS to memcached failed/);
    row(`two nodes over TLS (${strategy})`, 'second node: 0 CMS verifications, 1 shared-cache hit');
  });
}

test('a client certificate (memcache_tls_certfile/keyfile) is presented where memcached requires one; without it, no shared cache', async () => {
  const token = await idp.issueToken({ user: 'mutual', format: 'pkiz' });
  const withCert = options(`127.0.0.1:${mutualServer.port}`, { memcache_tls_cafile: ca.path, memcache_tls_certfile: client.path, memcache_tls_keyfile: client.keyPath }, new CapturingLogger());
  assert.equal((await validateOnce(withCert, token)).status, 'confirmed');
  assert.equal((await validateOnce(withCert, token)).stats.cacheHits, 1, 'shared over mutual TLS');
  const logger = new CapturingLogger();
  const without = await validateOnce(options(`127.0.0.1:${mutualServer.port}`, { memcache_tls_cafile: ca.path }, logger), token);
  assert.equal(without.status, 'confirmed', 'validated without the shared cache');
  assert.equal(without.stats.cmsVerifications, 1);
  assert.match(logger.text(), /shared token cache unavailable/);
  row('client certificate required by memcached', 'with memcache_tls_certfile/keyfile: shared; without: request confirmed, validated without the cache, warning');
});

test('a server certificate from another CA is refused: requests keep working without the shared cache, a warning says why, nothing is written', async () => {
  const logger = new CapturingLogger();
  const token = await idp.issueToken({ user: 'wrong-ca', format: 'pkiz' });
  const opts = options(`127.0.0.1:${tlsServer.port}`, { memcache_tls_cafile: otherCa.path }, logger);
  for (let i = 0; i < 2; i++) {
    const outcome = await validateOnce(opts, token);
    assert.equal(outcome.status, 'confirmed');
    assert.equal(outcome.stats.cmsVerifications, 1, 'validated without the shared cache');
  }
  assert.match(logger.text(), /TLS to memcached failed.*(certificate|issuer)/);
  assert.match(logger.text(), /shared token cache unavailable; validating without it/);
  const reader = new SharedTokenCache(new MemcachedStore([`127.0.0.1:${plainPort}`], { timeoutMs: 1000, logger: new CapturingLogger() }), new CapturingLogger(), 1000);
  try {
    assert.equal(await reader.get(token, 'pkiz', [token]), undefined, 'no entry reached memcached');
  } finally {
    await reader.close();
  }
  row('server certificate from another CA', `refused (${/"error":"([^"]+)"/.exec(logger.text())?.[1] ?? '?'}); request confirmed without the cache; warning`);
});

test('a certificate for another host name is refused (the address is checked, as Python\'s ssl.create_default_context does)', async () => {
  const logger = new CapturingLogger();
  const token = await idp.issueToken({ user: 'wrong-host', format: 'pkiz' });
  const other = pki.issue('memcached-other-host', { subject: '/CN=cache.example.test', issuer: ca, extensions: `${LEAF}\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:cache.example.test` });
  const wrongHost = await Memcached.start(undefined, ['-Z', '-o', `ssl_chain_cert=${other.path},ssl_key=${other.keyPath}`]);
  try {
    const outcome = await validateOnce(options(`127.0.0.1:${wrongHost.port}`, { memcache_tls_cafile: ca.path }, logger), token);
    assert.equal(outcome.status, 'confirmed');
    assert.equal(outcome.stats.cmsVerifications, 1);
    assert.match(logger.text(), /TLS to memcached failed.*IP: 127\.0\.0\.1 is not in the cert's list/);
    row('certificate for another host', 'refused (IP: 127.0.0.1 is not in the cert\'s list); request confirmed without the cache; warning');
  } finally {
    await wrongHost.stop();
  }
});

test('a memcached without TLS is refused: no plaintext fallback, nothing written in clear', async () => {
  const logger = new CapturingLogger();
  const token = await idp.issueToken({ user: 'plain', format: 'pkiz' });
  const opts = options(`127.0.0.1:${plainServer.port}`, { memcache_tls_cafile: ca.path }, logger);
  for (let i = 0; i < 2; i++) {
    const outcome = await validateOnce(opts, token);
    assert.equal(outcome.status, 'confirmed');
    assert.equal(outcome.stats.cmsVerifications, 1, 'validated without the shared cache, every time');
  }
  assert.match(logger.text(), /TLS to memcached failed/);
  const reader = new SharedTokenCache(new MemcachedStore([plainServer.address], { timeoutMs: 1000, logger: new CapturingLogger() }), new CapturingLogger(), 1000);
  try {
    assert.equal(await reader.get(token, 'pkiz', [token]), undefined, 'no entry was written over plain TCP');
  } finally {
    await reader.close();
  }
  row('memcached without TLS', `refused (${/wrong version number|[^"]*socket disconnected[^"]*/.exec(logger.text())?.[0] ?? '?'}); no plaintext fallback; nothing stored`);
});

test('unreadable or unusable memcache_tls_* files are a ConfigError at start, not a silent miss per request', () => {
  assert.throws(() => loadMemcachedTls({ cafile: '/nonexistent/ca.pem', certfile: undefined, keyfile: undefined, ciphers: undefined }), { code: 'ERR_CONFIG', message: /memcache_tls_cafile: cannot read \/nonexistent\/ca.pem/ });
  assert.throws(() => loadMemcachedTls({ cafile: ca.path, certfile: client.path, keyfile: otherCa.keyPath, ciphers: undefined }), { code: 'ERR_CONFIG', message: /memcache_tls_/ });
  assert.throws(() => loadMemcachedTls({ cafile: ca.path, certfile: undefined, keyfile: undefined, ciphers: 'NO-SUCH-CIPHER' }), { code: 'ERR_CONFIG', message: /memcache_tls_/ });
  assert.throws(() => new AuthProtocol(options(`127.0.0.1:${tlsServer.port}`, { memcache_tls_cafile: '/nonexistent/ca.pem' }, new CapturingLogger())), { code: 'ERR_CONFIG' });
  row('unreadable CA file, mismatched key, unknown cipher list', 'ConfigError (ERR_CONFIG) at start');
});

test('memcache_tls_allowed_ciphers is applied (TLS 1.2 and below; TLS 1.3 suites stay as in Python)', async () => {
  // memcached cannot be held to TLS 1.2 (it has ssl_min_version only): a node:tls server stands in for the handshake.
  const server = pki.issue('cipher-server', { subject: '/CN=memcached', issuer: ca, extensions: `${LEAF}\nextendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1` });
  const seen: string[] = [];
  const refused: string[] = [];
  const listener = createTlsServer({ cert: server.pem, key: readFileSync(server.keyPath), maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }, (socket) => {
    seen.push(socket.getCipher().name);
    socket.destroy();
  });
  listener.on('tlsClientError', (error) => refused.push(error.message));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as { port: number }).port;
  try {
    const attempt = async (ciphers: string) => {
      const logger = new CapturingLogger();
      const tls = loadMemcachedTls({ cafile: ca.path, certfile: undefined, keyfile: undefined, ciphers });
      const store = new MemcachedStore([`127.0.0.1:${port}`], { timeoutMs: 1000, logger, tls });
      await store.get('k').catch(() => undefined);
      store.close();
      return logger;
    };
    const outside = await attempt('ECDHE-ECDSA-AES256-GCM-SHA384');
    assert.deepEqual(seen, [], 'no handshake with a cipher outside the list');
    assert.match(outside.text(), /TLS to memcached failed/);
    await attempt('ECDHE-ECDSA-AES128-GCM-SHA256');
    assert.deepEqual(seen, ['ECDHE-ECDSA-AES128-GCM-SHA256']);
    row('memcache_tls_allowed_ciphers (TLS 1.2 server)', 'a cipher outside the list: no handshake, warning; the listed cipher: negotiated');
  } finally {
    listener.close();
  }
});

test('entries written over TLS are the bytes Python keystonemiddleware 10.1 reads and writes (over the same memcached\'s plain listener: 10.1 has no memcache_tls_*)', async (t) => {
  const opts = spawnSync('/usr/bin/python3', ['-c', 'from keystonemiddleware.auth_token import _opts; print(any(o.name.startswith("memcache_tls") for o in _opts._OPTS))'], { encoding: 'utf8' });
  assert.equal(opts.status, 0, `python3-keystonemiddleware is required (apt-get install -y python3-keystonemiddleware): ${opts.stderr}`);
  t.diagnostic(`Python keystonemiddleware 10.1 knows memcache_tls_* options: ${opts.stdout.trim()}`);
  for (const strategy of ['None', 'MAC', 'ENCRYPT'] as const) {
    const secret = 'shared fleet secret';
    const tls = loadMemcachedTls({ cafile: ca.path, certfile: undefined, keyfile: undefined, ciphers: undefined });
    const shared = new SharedTokenCache(new MemcachedStore([`127.0.0.1:${tlsServer.port}`], { timeoutMs: 1500, logger: new CapturingLogger(), tls }), new CapturingLogger(), 1500, strategy === 'None' ? undefined : { strategy, secret });
    try {
      // Python writes (plain listener), we read over TLS.
      const pyToken = `python-${strategy}-${Date.now()}`;
      execFileSync('/usr/bin/python3', ['-c', PYTHON_TOKEN_CACHE, 'write', `127.0.0.1:${plainPort}`, strategy, secret, pyToken], { input: JSON.stringify(tokenBody({ user: 'from-python' })) });
      const read = await shared.get(pyToken, 'online', [pyToken]);
      assert.ok(read?.valid, `${strategy}: Python's entry read over TLS`);
      assert.equal(read.valid && read.identity.user.id, 'from-python-id');
      // We write over TLS, Python reads (plain listener).
      const ourToken = `node-${strategy}-${Date.now()}`;
      await shared.set(ourToken, { ...read, identity: { ...read.identity, body: tokenBody({ user: 'from-node' }) } }, 300);
      const fromPython = JSON.parse(execFileSync('/usr/bin/python3', ['-c', PYTHON_TOKEN_CACHE, 'read', `127.0.0.1:${plainPort}`, strategy, secret, ourToken], { encoding: 'utf8' }));
      assert.equal(fromPython[0].token.user.id, 'from-node-id', `${strategy}: our TLS-written entry read by Python`);
      await shared.set(`invalid-${ourToken}`, { valid: false, code: 'ERR_TOKEN_INVALID', message: 'x' }, 300);
      // No negative entries are written (as keystonemiddleware 10.1 writes none): Python finds nothing.
      assert.equal(JSON.parse(execFileSync('/usr/bin/python3', ['-c', PYTHON_TOKEN_CACHE, 'read', `127.0.0.1:${plainPort}`, strategy, secret, `invalid-${ourToken}`], { encoding: 'utf8' })), null);
      row(`Python 10.1 interop, ${strategy}`, 'Python-written entry read over TLS; TLS-written valid entry read by Python; no negative entry written');
    } finally {
      await shared.close();
    }
  }
});

test('the TLS scenario table', () => {
  console.log(`memcached over TLS (Debian memcached -Z):\n| scenario | outcome |\n|---|---|\n${rows.join('\n')}`);
  assert.ok(rows.length >= 8, `every scenario above reported (${rows.length})`);
});
