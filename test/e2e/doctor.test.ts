import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestPki, issueCertificate, startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { tempDir } from '../helpers/app.js';
import { cli, doctorJson, privateDir, runCli } from '../helpers/cli.js';
import { readOnlyDir } from '../helpers/filesystems.js';
import { token as fixtureToken, pkiPath } from '../helpers/fixtures.js';

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
});
after(async () => {
  await idp.close();
});

test('doctor on a healthy setup: every check passes, exit 0', async () => {
  const { code, failures, report } = await doctorJson(idp, ['--signing-dir', privateDir()]);
  assert.deepEqual(failures, []);
  assert.equal(code, 0);
  assert.ok(report.checks.length >= 12);
});

test('doctor finds a stale signing certificate in signing_dir, and --fix replaces it', async () => {
  const dir = privateDir();
  const stale = await createTestPki({ signingCommonName: 'Old Signing' });
  writeFileSync(join(dir, 'signing_cert.pem'), stale.signing.pem);
  writeFileSync(join(dir, 'cacert.pem'), stale.ca.pem);
  const first = await doctorJson(idp, ['--signing-dir', dir]);
  assert.equal(first.code, 1);
  const check = first.find('cached versus served')!;
  assert.equal(check.status, 'failure');
  assert.match(check.evidence, /stale signing certificate/);
  const fixed = await doctorJson(idp, ['--signing-dir', dir, '--fix']);
  assert.equal(fixed.find('repair')?.status, 'ok');
  const after = await doctorJson(idp, ['--signing-dir', dir]);
  assert.equal(after.code, 0, JSON.stringify(after.failures));
});

test('a signing_dir that does not exist yet is fine (the middleware creates it at start); --fix creates it with mode 0700; one that cannot be created fails', async () => {
  const dir = join(privateDir(), 'signing');
  const without = await doctorJson(idp, ['--signing-dir', dir]);
  assert.equal(without.code, 0, JSON.stringify(without.failures));
  assert.equal(without.find('exists')!.status, 'ok');
  assert.match(without.find('exists')!.evidence, /does not exist yet: the middleware creates it at start \(mode 0700\)/);
  await doctorJson(idp, ['--signing-dir', dir, '--fix']);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  if (process.getuid?.() !== 0) {
    const blocked = await doctorJson(idp, ['--signing-dir', '/proc/kat-cannot-create/signing']);
    assert.equal(blocked.code, 1);
    assert.match(blocked.find('exists')!.evidence, /cannot create it/);
  }
});

test('doctor names an expired signing certificate and a certificate with the wrong purposes', async () => {
  const ca = await issueCertificate({ commonName: 'Doctor CA', ca: true });
  const expired = await issueCertificate({ commonName: 'Expired Signing', issuer: ca, notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2023-07-20T14:57:31Z') });
  const serverAuth = await issueCertificate({ commonName: 'TLS Signing', issuer: ca, extKeyUsage: ['1.3.6.1.5.5.7.3.1'], keyUsage: ['digitalSignature', 'keyEncipherment'] });
  for (const [signing, name, pattern] of [[expired, 'signing certificate validity', /EXPIRED on 2023-07-20/], [serverAuth, 'signing certificate purposes', /extendedKeyUsage serverAuth.*lacks emailProtection/]] as const) {
    const broken = await startIdentityServer({ pki: { ca, signing } });
    try {
      const result = await doctorJson(broken, ['--signing-dir', privateDir()]);
      assert.equal(result.code, 1);
      const check = result.find(name)!;
      assert.equal(check.status, 'failure');
      assert.match(check.evidence, pattern);
      assert.ok(check.fix);
    } finally {
      await broken.close();
    }
  }
});

test('doctor reports a read-only signing_dir with the fix', async (t) => {
  const dir = readOnlyDir();
  if (typeof dir === 'string') {
    t.diagnostic(`NOT RUN: cannot build a read-only directory on this machine: ${dir}`);
    t.skip(`cannot build a read-only directory here: ${dir}`);
    return;
  }
  try {
    const result = await doctorJson(idp, ['--signing-dir', dir.path]);
    assert.equal(result.code, 1);
    const check = result.find('writable')!;
    assert.equal(check.status, 'failure');
    assert.match(check.evidence, /not writable/);
    assert.match(check.fix!, /chown .* chmod 0700/);
  } finally {
    dir.cleanup();
  }
});

test('doctor reports an unreachable identity server and bad admin credentials', async () => {
  const down = await startIdentityServer();
  await down.setFault('down');
  const unreachable = await doctorJson(down, ['--signing-dir', privateDir()]);
  assert.equal(unreachable.code, 1);
  assert.equal(unreachable.find('reachable')?.status, 'failure');
  const badAdmin = await doctorJson(idp, ['--signing-dir', privateDir()], { ...idp.adminCredentials, admin_password: 'wrong' });
  assert.equal(badAdmin.code, 1);
  const check = badAdmin.find('authentication')!;
  assert.equal(check.group, 'service credentials');
  assert.equal(check.status, 'failure');
  assert.match(check.evidence, /refused the service credentials, admin_user admin/);
  assert.match(check.fix!, /password/);
  assert.equal(badAdmin.find('reachable')?.status, 'ok', 'a refused password is not a reachability problem');
  assert.doesNotMatch(JSON.stringify(badAdmin.report), /wrong/, 'the password is never printed');
});

test('doctor --token gives the verdict and the precise reason for a revoked token, reading it from stdin too', async () => {
  const revoked = await idp.issueToken({ user: 'mallory', format: 'pkiz' });
  idp.revoke(revoked);
  const result = await doctorJson(idp, ['--signing-dir', privateDir(), '--token', revoked]);
  assert.equal(result.code, 1);
  assert.match(result.find('verdict')!.evidence, /REFUSED \(ERR_TOKEN_REVOKED\)/);
  const valid = await idp.issueToken({ user: 'alice' });
  const args = ['doctor', '--identity-uri', idp.url, '--admin-user', 'admin', '--admin-password', 'secret', '--admin-tenant-name', 'service', '--signing-dir', privateDir(), '--www-authenticate-uri', 'http://x/', '--token', '-'];
  const human = await runCli(args, valid);
  assert.equal(human.code, 0, human.stdout);
  assert.match(human.stdout, /VALID: user alice/);
  assert.doesNotMatch(human.stdout, /\u001b\[/, 'no colour when not on a terminal');
});

test('doctor reads a service config file and flags risky options; usage errors exit 2', async () => {
  const dir = tempDir();
  const conf = join(dir, 'api.conf');
  mkdirSync(join(dir, 'signing'), { mode: 0o700 });
  writeFileSync(conf, `[keystone_authtoken]\nidentity_uri = ${idp.url}\nwww_authenticate_uri = http://x/\nadmin_user = admin\nadmin_password = secret\nadmin_tenant_name = service\nsigning_dir = ${join(dir, 'signing')}\nrevocation_cache_time = 0\nmemcache_pool_maxsize = 4\n`);
  const result = await runCli(['doctor', '--config', conf, '--json']);
  const report = JSON.parse(result.stdout);
  const warning = report.checks.find((c: { name: string }) => c.name === 'revocation_cache_time');
  assert.equal(warning.status, 'warning');
  assert.match(report.checks.find((c: { name: string }) => c.name === 'options for Python services only').evidence, /memcache_pool_maxsize/);
  assert.equal((await runCli(['doctor', '--identity-url', 'http://x'])).code, 2);
  assert.match((await runCli(['doctor', '--identity-url', 'http://x'])).stderr, /did you mean --identity-uri/);
  assert.equal((await runCli(['frobnicate'])).code, 2);
  assert.equal((await runCli([])).code, 2);
});

test('inspect describes a token offline and explains a refusal', async () => {
  const token = fixtureToken('v3-5k', 'pki');
  const offline = await runCli(['inspect', token, '--json']);
  assert.equal(offline.code, 0);
  const report = JSON.parse(offline.stdout);
  assert.equal(report.format, 'pki');
  assert.equal(report.md5.length, 32);
  assert.equal(report.cms[0].digestAndSignature, 'sha256 / sha256WithRSAEncryption');
  assert.match(report.cms[0].signer.issuer, /Test Intermediate CA/);
  assert.equal(report.cms[0].signedAttributes, 'absent (-noattr)');
  assert.equal(report.body.user, 'alice (alice-user-id) in domain Default');
  assert.equal(report.body.catalogServices, 5);
  const verified = await runCli(['inspect', token, '--signing-cert', pkiPath('signing-rsa.pem'), '--ca', pkiPath('ca-chain.pem')]);
  assert.equal(verified.code, 0);
  assert.match(verified.stdout, /valid signature/);
  const refused = await runCli(['inspect', '-', '--signing-cert', pkiPath('signing-rsa2.pem'), '--ca', pkiPath('ca-chain.pem')], token);
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /ERR_SIGNER_MISMATCH/);
  const garbage = await runCli(['inspect', 'MIIgarbage', '--json']);
  assert.equal(garbage.code, 1);
  assert.equal(JSON.parse(garbage.stdout).error.code, 'ERR_TOKEN_MALFORMED');
});

test('the CLI: --version, help per command, NO_COLOR on a terminal, inspect --json keys in camelCase, an online token never printed', async () => {
  const version = await runCli(['--version']);
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
  const doctorHelp = await runCli(['doctor', '--help']);
  assert.equal(doctorHelp.code, 0);
  assert.match(doctorHelp.stdout, /^usage: keystone-authtoken doctor/);
  assert.doesNotMatch(doctorHelp.stdout, /keystone-authtoken inspect/);
  assert.match((await runCli(['inspect', '--help'])).stdout, /^usage: keystone-authtoken inspect/);
  const unknown = await runCli(['inspect', '--frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown flag --frobnicate/);

  const online = 'gAAAAABonline-fernet-token-value-123';
  const inspected = JSON.parse((await runCli(['inspect', online, '--json'])).stdout);
  assert.deepEqual(Object.keys(inspected), ['format', 'length', 'logId', 'kind', 'note', 'validation']);
  assert.equal(inspected.kind, 'unknown');
  assert.ok(!JSON.stringify(inspected).includes(online), 'the token is not printed under a hash label');
  const uuid = JSON.parse((await runCli(['inspect', await idp.issueToken({ format: 'uuid' }), '--json'])).stdout);
  assert.equal(uuid.kind, 'uuid');
  const keys = (value: unknown): string[] => value && typeof value === 'object' ? Object.entries(value).flatMap(([k, v]) => [k, ...keys(v)]) : [];
  const pkiReport = JSON.parse((await runCli(['inspect', fixtureToken('v3-5k', 'pki'), '--json'])).stdout);
  for (const key of keys(pkiReport)) assert.match(key, /^([a-z][a-zA-Z0-9]*|\d+)$/, `camelCase key ${key}`);

  // On a terminal (script gives the command one), colours unless NO_COLOR is set. The environment is set
  // explicitly: CI may run with TERM=dumb, NO_COLOR or CI already set, each of which rightly turns colours off
  // (Node's hasColors rule, which util.styleText applies too).
  const dir = privateDir();
  const command = (env: string) => `env -u NO_COLOR -u NODE_DISABLE_COLORS -u FORCE_COLOR -u CI TERM=xterm ${env} ${process.execPath} --import tsx ${cli} doctor --identity-uri ${idp.url} --admin-user ${idp.adminCredentials.admin_user} --admin-password ${idp.adminCredentials.admin_password} --admin-tenant-name ${idp.adminCredentials.admin_tenant_name} --www-authenticate-uri http://x/ --signing-dir ${dir}`;
  const tty = (env: string) => new Promise<string>((resolve) => execFile('script', ['-qec', command(env), '/dev/null'], { encoding: 'utf8' }, (_e, stdout) => resolve(stdout)));
  assert.match(await tty(''), /\u001b\[/, 'colours on a terminal');
  assert.doesNotMatch(await tty('NO_COLOR=1'), /\u001b\[/, 'no colour with NO_COLOR');
  assert.doesNotMatch(await tty('CI=1'), /\u001b\[/, 'no colour under an unnamed CI, as Node decides');
});

