import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { AuthProtocol, KeystoneAuthError } from '../../src/index.js';
import { createTestPki, startIdentityServer, tokenBody, type IdentityServer, type TestPki } from '../../src/testing/index.js';
import { startApp, tempDir } from '../helpers/app.js';

/**
 * A signing_dir another user can write is a way to make any token valid: plant signing_cert.pem and cacert.pem of
 * one's own CA, or put back an older revoked.pem. Built for real: run as root, files chowned to another uid.
 */

const OTHER_UID = 12345;
const root = process.getuid?.() === 0;

let idp: IdentityServer;
let mallory: TestPki;
let forged: string;
before(async () => {
  idp = await startIdentityServer();
  mallory = await createTestPki({ signingCommonName: 'Keystone Signing' });
  forged = idp.sign(tokenBody({ user: 'mallory', roles: ['admin'] }), 'pki', mallory.signing);
});
after(() => idp?.close());

function requireRoot(t: { diagnostic(message: string): void }): void {
  if (!root) {
    t.diagnostic('not running as root: files cannot be given to another uid here (.ci/run runs as root)');
    assert.fail('this test needs root to chown files to a second uid');
  }
}

const base = () => ({ identity_uri: idp.url, ...idp.adminCredentials, www_authenticate_uri: 'http://keystone.example.test/' });

function startError(options: Record<string, unknown>): KeystoneAuthError {
  try {
    new AuthProtocol({ ...base(), logger: { debug() {}, info() {}, warn() {}, error() {} }, ...options } as never);
  } catch (error) {
    assert.ok(error instanceof KeystoneAuthError, String(error));
    return error;
  }
  assert.fail('the middleware started');
}

test('a signing_dir another user owns, or that group or others can write, refuses to start with the fix; allowInsecureSigningDir turns that into a warning', async (t) => {
  requireRoot(t);
  const foreign = tempDir();
  chownSync(foreign, OTHER_UID, OTHER_UID);
  const error = startError({ signing_dir: foreign });
  assert.equal(error.code, 'ERR_SIGNING_DIR_UNSAFE');
  assert.match(error.message, /owned by uid 12345, not by this process \(uid 0\)/);
  assert.match(error.message, new RegExp(`chown 0 ${foreign} && chmod 0700 ${foreign}`));

  for (const mode of [0o777, 0o770, 0o702, 0o1777]) {
    const dir = tempDir();
    chmodSync(dir, mode);
    const refused = startError({ signing_dir: dir });
    assert.equal(refused.code, 'ERR_SIGNING_DIR_UNSAFE', mode.toString(8));
    assert.match(refused.message, /is writable by (its group|others|group and others)/);
  }
  const readable = tempDir();
  chmodSync(readable, 0o755); // certificates are public: reading is no threat
  await new AuthProtocol({ ...base(), signing_dir: readable, logger: { debug() {}, info() {}, warn() {}, error() {} } }).close();

  // A directory above it that others can write (and is not sticky, as /tmp is) can have signing_dir replaced.
  const open = tempDir();
  chmodSync(open, 0o777);
  mkdirSync(join(open, 'signing'), { mode: 0o700 });
  const above = startError({ signing_dir: join(open, 'signing') });
  assert.match(above.message, new RegExp(`${open}, above it, is writable by group and others \\(mode 0777\\) and not sticky`));
  chmodSync(open, 0o1777);
  await new AuthProtocol({ ...base(), signing_dir: join(open, 'signing'), logger: { debug() {}, info() {}, warn() {}, error() {} } }).close();

  // The escape hatch, for a directory another trusted account manages: a warning that names the option.
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, error() {}, warn: (_: object, message?: string) => void warnings.push(message ?? '') };
  await new AuthProtocol({ ...base(), signing_dir: foreign, allowInsecureSigningDir: true, logger }).close();
  assert.ok(warnings.some((w) => /owned by uid 12345.*used anyway because allowInsecureSigningDir is set/.test(w)), warnings.join('\n'));
});

/** A trusted signing_dir holding what a first instance wrote: the real certificates and revoked.pem. */
async function populated(): Promise<string> {
  const dir = tempDir('kat-signing-');
  const first = await startApp(idp, { signing_dir: dir, auth_version: 'v3' });
  assert.equal((await first.get({ 'x-auth-token': await idp.issueToken({ user: 'warmup' }) })).status, 200);
  await first.close();
  for (const name of ['signing_cert.pem', 'cacert.pem', 'revoked.pem']) assert.ok(existsSync(join(dir, name)), name);
  return dir;
}

/** Puts `text` at signing_dir/name as another user would: a file of theirs, renamed into place. */
function plant(dir: string, name: string, text: string, uid = OTHER_UID, mode = 0o644): void {
  const staging = join(dir, `.${name}.planted`);
  writeFileSync(staging, text);
  chownSync(staging, uid, uid);
  chmodSync(staging, mode);
  renameSync(staging, join(dir, name));
}

const plantings: Record<string, (dir: string) => void> = {
  'files of another uid': (dir) => {
    plant(dir, 'signing_cert.pem', mallory.signing.pem);
    plant(dir, 'cacert.pem', mallory.ca.pem);
  },
  'symbolic links to another uid\'s files': (dir) => {
    const elsewhere = tempDir();
    for (const [name, pem] of [['signing_cert.pem', mallory.signing.pem], ['cacert.pem', mallory.ca.pem]] as const) {
      writeFileSync(join(elsewhere, name), pem);
      chownSync(join(elsewhere, name), OTHER_UID, OTHER_UID);
      spawnSync('rm', ['-f', join(dir, name)]);
      symlinkSync(join(elsewhere, name), join(dir, name));
    }
  },
  'symbolic links to files of this uid': (dir) => {
    const elsewhere = tempDir();
    for (const [name, pem] of [['signing_cert.pem', mallory.signing.pem], ['cacert.pem', mallory.ca.pem]] as const) {
      writeFileSync(join(elsewhere, name), pem, { mode: 0o600 });
      spawnSync('rm', ['-f', join(dir, name)]);
      symlinkSync(join(elsewhere, name), join(dir, name));
    }
  },
  'files of this uid that others can write': (dir) => {
    plant(dir, 'signing_cert.pem', mallory.signing.pem, 0, 0o666);
    plant(dir, 'cacert.pem', mallory.ca.pem, 0, 0o646);
  },
};

for (const [how, planting] of Object.entries(plantings)) {
  test(`certificates planted in signing_dir before a restart (${how}) are not trusted: the identity server's are used and replace them; with it down, they are refused and said so`, async (t) => {
    requireRoot(t);
    const dir = await populated();
    planting(dir);
    // The identity server down: signing_dir is the fallback, and the planted files are refused there too.
    await idp.setFault('down');
    const fallback = await startApp(idp, { signing_dir: dir, auth_version: 'v3' });
    try {
      const attack = await fallback.get({ 'x-auth-token': forged });
      assert.equal(attack.status, 503, JSON.stringify(attack.keystone));
      assert.match(fallback.logger.text(), /signing_cert\.pem is (owned by uid 12345|a symbolic link|writable by).*not trusted/);
    } finally {
      await idp.setFault(null);
      await fallback.close();
    }
    const app = await startApp(idp, { signing_dir: dir, auth_version: 'v3' });
    try {
      const attack = await app.get({ 'x-auth-token': forged });
      assert.equal(attack.status, 401, JSON.stringify(attack.keystone));
      const honest = await app.get({ 'x-auth-token': await idp.issueToken({ user: 'honest' }) });
      assert.equal(honest.status, 200);
      assert.equal(honest.keystone.user.id, 'honest-id');
      assert.equal(app.auth.health().signingCertificate?.source, 'identity server');
      for (const name of ['signing_cert.pem', 'cacert.pem']) {
        const info = lstatSync(join(dir, name));
        assert.ok(info.isFile() && info.uid === 0 && (info.mode & 0o777) === 0o600, `${name} replaced by the served one`);
      }
      assert.equal(readFileSync(join(dir, 'signing_cert.pem'), 'utf8'), idp.pki.signing.pem);
    } finally {
      await app.close();
    }
  });
}

test('a replayed older revoked.pem planted by another uid does not un-revoke a token', async (t) => {
  requireRoot(t);
  const dir = await populated();
  const older = readFileSync(join(dir, 'revoked.pem'), 'utf8');
  const victim = await idp.issueToken({ user: 'revoked-later' });
  idp.revoke(victim);
  // A first instance sees the revocation and writes the new list (the one on disk being too old to use).
  const hourAgo = new Date(Date.now() - 3600_000);
  utimesSync(join(dir, 'revoked.pem'), hourAgo, hourAgo);
  const first = await startApp(idp, { signing_dir: dir, auth_version: 'v3', revocation_cache_time: 0 });
  assert.equal((await first.get({ 'x-auth-token': victim })).status, 401);
  await first.close();
  assert.notEqual(readFileSync(join(dir, 'revoked.pem'), 'utf8'), older);

  // The older list put back, fresh-looking, while the service is down.
  plant(dir, 'revoked.pem', older);
  const now = new Date();
  utimesSync(join(dir, 'revoked.pem'), now, now);
  const second = await startApp(idp, { signing_dir: dir, auth_version: 'v3', revocation_cache_time: 3600 });
  try {
    assert.equal((await second.get({ 'x-auth-token': victim })).status, 401, 'still revoked');
    assert.equal(second.auth.stats.revocationFetches, 1, 'the list was fetched');
  } finally {
    await second.close();
  }
  // The identity server down: the planted file is where the fallback would look, and it is refused there.
  plant(dir, 'revoked.pem', older);
  utimesSync(join(dir, 'revoked.pem'), now, now);
  await idp.setFault('down');
  const third = await startApp(idp, { signing_dir: dir, auth_version: 'v3', revocation_cache_time: 3600 });
  try {
    assert.equal((await third.get({ 'x-auth-token': victim })).status, 503, 'undecidable, never a pass');
    assert.match(third.logger.text(), /revoked\.pem is owned by uid 12345.*not trusted/);
  } finally {
    await idp.setFault(null);
    await third.close();
  }
});

test('a FIFO or a directory in place of a file: not read (no hang), refetched, and the certificates still serve from memory', async (t) => {
  requireRoot(t);
  const dir = await populated();
  spawnSync('rm', ['-f', join(dir, 'revoked.pem'), join(dir, 'signing_cert.pem')]);
  assert.equal(spawnSync('mkfifo', ['-m', '0600', join(dir, 'revoked.pem')]).status, 0);
  mkdirSync(join(dir, 'signing_cert.pem'), { mode: 0o700 });
  // The identity server down: signing_dir is read as the fallback, and neither is read (no hang), both said so.
  await idp.setFault('down');
  const fallback = await startApp(idp, { signing_dir: dir, auth_version: 'v3', revocation_cache_time: 3600 });
  try {
    const { status } = await fallback.get({ 'x-auth-token': await idp.issueToken({ user: 'fifo' }) });
    assert.equal(status, 503);
    assert.match(fallback.logger.text(), /signing_cert\.pem is not a regular file/);
  } finally {
    await idp.setFault(null);
    await fallback.close();
  }
  const app = await startApp(idp, { signing_dir: dir, auth_version: 'v3', revocation_cache_time: 3600 });
  try {
    const { status } = await app.get({ 'x-auth-token': await idp.issueToken({ user: 'fifo' }) });
    assert.equal(status, 200);
    assert.match(app.logger.text(), /cannot write certificates to signing_dir; verifying with the copy in memory/);
    assert.ok(statSync(join(dir, 'revoked.pem')).isFile(), 'the FIFO was replaced by the fetched list');
  } finally {
    await app.close();
  }
});

test('doctor reports planted files and an untrusted signing_dir', async (t) => {
  requireRoot(t);
  const dir = await populated();
  plant(dir, 'cacert.pem', mallory.ca.pem);
  chmodSync(dir, 0o777);
  const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const args = ['doctor', '--json', '--identity-uri', idp.url, '--admin-user', idp.adminCredentials.admin_user, '--admin-password', idp.adminCredentials.admin_password,
    '--admin-tenant-name', idp.adminCredentials.admin_tenant_name, '--www-authenticate-uri', 'http://keystone.example.test/', '--signing-dir', dir];
  const stdout: string = await new Promise((resolve) => execFile(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8' }, (_, out) => resolve(out)));
  const report: { checks: { group: string; name: string; status: string; evidence: string }[] } = JSON.parse(stdout);
  const trusted = report.checks.find((c) => c.group === 'signing_dir' && c.name === 'trusted')!;
  assert.equal(trusted.status, 'failure');
  assert.match(trusted.evidence, /writable by group and others.*refuses to start \(ERR_SIGNING_DIR_UNSAFE\)/);
  const ca = report.checks.find((c) => c.name === 'cacert.pem')!;
  assert.equal(ca.status, 'failure');
  assert.match(ca.evidence, /owned by uid 12345.*not trusted/);
});
