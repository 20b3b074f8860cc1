// A real Keystone (Debian's python3-keystone, Zed) on 127.0.0.1: sqlite in WAL mode, Fernet keys from
// keystone-manage fernet_setup, bootstrap, served by one uwsgi process (--lazy-apps) under the /identity prefix.
// scripts/run-tests.mjs starts one per run and hands it to the tests in KEYSTONE_* variables; a test file run on
// its own starts its own. Plain JavaScript so that the runner can import it without tsx.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ADMIN_PASSWORD = 'keystone-admin-secret';

/** Why a real Keystone cannot run here, or undefined when it can. */
export function keystoneMissing() {
  for (const [binary, pkg] of [['keystone-manage', 'python3-keystone'], ['uwsgi', 'uwsgi-core uwsgi-plugin-python3']]) {
    if (spawnSync('sh', ['-c', `command -v ${binary}`]).status !== 0) return `${binary} is not installed (apt-get install -y ${pkg}; .ci/run does it)`;
  }
  return undefined;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function manage(conf, args, cwd) {
  const result = spawnSync('keystone-manage', ['--config-file', conf, ...args], { encoding: 'utf8', cwd });
  if (result.status !== 0) throw new Error(`keystone-manage ${args[0]} failed (${result.status}): ${result.stderr.slice(-2000)}`);
}

/**
 * Starts Keystone and resolves when it answers. `url` is the identity endpoint (with its /identity prefix), as
 * bootstrap registered it in the catalog (public, internal and admin alike, region RegionOne).
 */
export async function startKeystone({ provider = 'fernet' } = {}) {
  const missing = keystoneMissing();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'kat-keystone-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/identity`;
  for (const sub of ['fernet', 'credential', 'jws-private', 'jws-public']) mkdirSync(join(dir, sub), { mode: 0o700 });
  const conf = join(dir, 'keystone.conf');
  writeFileSync(conf, [
    '[DEFAULT]', `log_file = ${join(dir, 'keystone.log')}`,
    '[database]', `connection = sqlite:///${join(dir, 'keystone.db')}`,
    '[token]', `provider = ${provider}`, 'expiration = 3600', 'allow_expired_window = 172800',
    '[jwt_tokens]', `jws_private_key_repository = ${join(dir, 'jws-private')}`, `jws_public_key_repository = ${join(dir, 'jws-public')}`,
    '[fernet_tokens]', `key_repository = ${join(dir, 'fernet')}`,
    '[fernet_receipts]', `key_repository = ${join(dir, 'fernet')}`,
    '[credential]', `key_repository = ${join(dir, 'credential')}`,
    '[cache]', 'enabled = false',
    '',
  ].join('\n'));
  manage(conf, ['db_sync']);
  // Without WAL, Keystone's own writes fail with "database is locked" under concurrent requests.
  const wal = spawnSync('/usr/bin/python3', ['-c', `import sqlite3; print(sqlite3.connect(${JSON.stringify(join(dir, 'keystone.db'))}).execute('PRAGMA journal_mode=WAL').fetchone()[0])`], { encoding: 'utf8' });
  if (wal.stdout.trim() !== 'wal') throw new Error(`cannot switch keystone.db to WAL: ${wal.stderr}`);
  const user = process.getuid?.() === 0 ? 'root' : String(process.getuid?.());
  manage(conf, ['fernet_setup', '--keystone-user', user, '--keystone-group', user]);
  manage(conf, ['credential_setup', '--keystone-user', user, '--keystone-group', user]);
  if (provider === 'jws') {
    manage(conf, ['create_jws_keypair', '--keystone-user', user, '--keystone-group', user], dir); // writes private.pem and public.pem here
    renameSync(join(dir, 'private.pem'), join(dir, 'jws-private', 'private.pem'));
    renameSync(join(dir, 'public.pem'), join(dir, 'jws-public', 'public.pem'));
  }
  manage(conf, ['bootstrap', '--bootstrap-password', ADMIN_PASSWORD, '--bootstrap-admin-url', url, '--bootstrap-internal-url', url,
    '--bootstrap-public-url', url, '--bootstrap-region-id', 'RegionOne']);
  const app = join(dir, 'app.py');
  writeFileSync(app, 'from keystone.server.wsgi import initialize_public_application\napplication = initialize_public_application()\n');
  const child = spawn('uwsgi', [
    '--plugin', 'python3', '--http-socket', `127.0.0.1:${port}`, '--mount', `/identity=${app}`, '--manage-script-name',
    '--lazy-apps', '--master', '--processes', '1', '--threads', '8', '--die-on-term',
    // uwsgi's --http-socket closes each connection without saying so: clients reusing it would see resets.
    '--add-header', 'Connection: close', '--logto', join(dir, 'uwsgi.log'),
  ], { env: { ...process.env, OS_KEYSTONE_CONFIG_FILES: conf }, stdio: 'ignore', detached: false });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => { const t = setTimeout(resolve, 5000); child.once('exit', () => { clearTimeout(t); resolve(); }); });
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const response = await fetch(`${url}/v3`);
      if (response.status === 200) break;
    } catch {
      // not yet listening
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`Keystone did not start (uwsgi exit ${child.exitCode}); see ${join(dir, 'uwsgi.log')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { url, port, dir, pid: child.pid, adminPassword: ADMIN_PASSWORD, stop };
}

/** The environment that hands a running Keystone to the test processes. */
export function keystoneEnv(keystone) {
  return { KEYSTONE_URL: keystone.url, KEYSTONE_ADMIN_PASSWORD: keystone.adminPassword };
}
