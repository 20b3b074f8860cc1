// The CLI against hostile token contents, its flag suggestions and secrets from the environment (doctor.test.ts
// has the checklist itself; separate files keep each under the runner's per-file timeout).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { cli, doctorJson, privateDir, runCli } from '../helpers/cli.js';

let idp: IdentityServer;
before(async () => {
  idp = await startIdentityServer();
});
after(async () => {
  await idp.close();
});

/** Names a token's minter chose: window title (OSC 0), clipboard write (OSC 52), concealed text (SGR 8), a C1 CSI, a bidi override. */
const HOSTILE = {
  user: 'eve\u001b]0;owned\u0007',
  project: 'proj\u001b]52;c;cm0gLXJmIH4=\u0007',
  roles: ['member\u001b[8mhidden', 'admin\u009b2J', 'rev\u202eersed'],
};

function assertNoControls(text: string, what: string): void {
  // Newlines of the layout aside, nothing below U+0020, no DEL/C1, no bidi or zero-width characters.
  assert.doesNotMatch(text.replace(/\n/g, ''), /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/, `${what} carries a raw control character`);
}

test('inspect and doctor --token print the names a token carries with their control characters escaped (no window title, clipboard write, hidden text or reordering)', async () => {
  const token = await idp.issueToken(HOSTILE);
  const inspected = await runCli(['inspect', token]);
  assert.equal(inspected.code, 0, inspected.stderr);
  assertNoControls(inspected.stdout, 'inspect');
  assert.match(inspected.stdout, /eve\\x1b\]0;owned\\x07/, 'shown, escaped');
  assert.match(inspected.stdout, /rev\\u\{202e\}ersed/);
  const json = await runCli(['inspect', token, '--json']);
  assertNoControls(json.stdout, 'inspect --json');
  assert.deepEqual(JSON.parse(json.stdout).body.roles, HOSTILE.roles, 'the JSON still says exactly what the token says');
  const doctor = await runCli(['doctor', '--identity-uri', idp.url, '--admin-user', 'admin', '--admin-password', 'secret', '--admin-tenant-name', 'service', '--signing-dir', privateDir(), '--www-authenticate-uri', 'http://x/', '--token', token]);
  assertNoControls(doctor.stdout, 'doctor --token');
  assert.match(doctor.stdout, /VALID: user eve\\x1b/);
  const online = await doctorJson(idp, ['--signing-dir', privateDir(), '--token', await idp.issueToken({ ...HOSTILE, format: 'uuid' })]);
  assertNoControls(online.stdout, 'doctor --json --token <online>');
  assert.match(online.find('verdict')!.evidence, /^VALID \(validated online by the identity server\): user eve\u001b\]0;owned/);
});

test('the CLI suggests the closest of its own flags, and takes the service password from KEYSTONE_AUTHTOKEN_PASSWORD / _ADMIN_PASSWORD instead of the command line', async () => {
  const tokn = await runCli(['doctor', '--tokn', 'x']);
  assert.equal(tokn.code, 2);
  assert.match(tokn.stderr, /unknown flag --tokn; did you mean --token\?/);
  assert.match((await runCli(['inspect', '--signing-dri', '/x'])).stderr, /did you mean --signing-dir\?/);
  const args = ['doctor', '--json', '--identity-uri', idp.url, '--admin-user', idp.adminCredentials.admin_user, '--admin-tenant-name', idp.adminCredentials.admin_tenant_name, '--www-authenticate-uri', 'http://x/', '--signing-dir', privateDir()];
  const viaEnv = await new Promise<{ stdout: string; stderr: string; code: number }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8', env: { ...process.env, KEYSTONE_AUTHTOKEN_ADMIN_PASSWORD: idp.adminCredentials.admin_password } }, (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }));
  });
  assert.equal(viaEnv.code, 0, viaEnv.stdout);
  assert.equal(JSON.parse(viaEnv.stdout).checks.find((c: { name: string }) => c.name === 'authentication').status, 'ok');
  assert.doesNotMatch(viaEnv.stdout + viaEnv.stderr, new RegExp(idp.adminCredentials.admin_password));
  const onCommandLine = await runCli([...args, '--admin-password', idp.adminCredentials.admin_password]);
  assert.match(onCommandLine.stderr, /--admin-password on the command line is visible to other users .*KEYSTONE_AUTHTOKEN_ADMIN_PASSWORD/);
});
