// doctor, inspect and ready() against a real Keystone 22: a service user without the role Keystone requires to
// validate tokens, one with it, a wrong password, a real Fernet token (JWS: test/e2e/jws-tokens.test.ts, which has
// a JWS Keystone of its own).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AuthProtocol, ConfigError } from '../../src/index.js';
import { silentLogger } from '../../src/logger.js';
import { KeystoneApi, realKeystone } from '../helpers/keystone-api.js';

const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

interface Check { group: string; name: string; status: string; evidence: string; fix?: string }

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let keystone: { url: string; adminPassword: string; stop: () => Promise<void> };
let api: KeystoneApi;
const stamp = Date.now().toString(36);
const users = { withRole: `svc-${stamp}`, withoutRole: `norole-${stamp}`, alice: `alice-${stamp}` };

function section(user: string) {
  return {
    www_authenticate_uri: 'http://keystone.example.test:5000/', auth_type: 'password', auth_url: `${keystone.url}/v3`, username: user,
    user_domain_name: 'Default', project_name: `${user}-project`, project_domain_name: 'Default', region_name: 'RegionOne',
  };
}

/** doctor --json with the section as flags and the password from the environment. */
async function doctor(user: string, password: string, extra: string[] = []) {
  const flags = Object.entries(section(user)).flatMap(([name, value]) => [`--${name.replace(/_/g, '-')}`, value]);
  const result = await run(['doctor', '--json', ...flags, ...extra], { KEYSTONE_AUTHTOKEN_PASSWORD: password });
  let checks: Check[];
  try {
    checks = JSON.parse(result.stdout).checks;
  } catch {
    assert.fail(`doctor printed no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  return { ...result, checks, find: (name: string) => checks.find((c) => c.name === name) };
}

before(async () => {
  keystone = await realKeystone();
  api = new KeystoneApi(keystone.url, keystone.adminPassword);
  await api.login();
  await api.serviceUser(users.withRole, 'svc-pw', `${users.withRole}-project`);
  const member = await api.role('member');
  for (const name of [users.withoutRole, users.alice]) {
    const project = await api.project(`${name}-project`);
    const user = await api.user(name, `${name}-pw`);
    await api.grant(member.id, user.id, { project: project.id });
  }
});

after(async () => {
  await keystone?.stop();
});

test('a service user without the service or admin role fails doctor (non-zero exit, the role to grant) and ready() (typed ConfigError); a wrong password is a credentials failure', async () => {
  const result = await doctor(users.withoutRole, `${users.withoutRole}-pw`);
  assert.equal(result.code, 1, result.stdout);
  const check = result.find('may validate tokens')!;
  assert.equal(check.status, 'failure');
  assert.match(check.evidence, /identity:validate_token needs the service or admin role/);
  assert.match(check.fix!, new RegExp(`openstack role add --user ${users.withoutRole} --project ${users.withoutRole}-project service`));
  assert.doesNotMatch(result.stdout, /identity_uri undefined/);
  assert.deepEqual(result.checks.filter((c) => c.group === 'signing_dir' && c.status !== 'ok'), [], 'no signing_dir warnings on a Fernet cloud');

  const protocol = new AuthProtocol({ ...section(users.withoutRole), password: `${users.withoutRole}-pw`, logger: silentLogger });
  try {
    await assert.rejects(protocol.ready(), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(error.code, 'ERR_CONFIG');
      assert.match(error.message, /cannot validate tokens.*service or admin role/);
      assert.match(error.message, new RegExp(`openstack role add --user ${users.withoutRole}`));
      return true;
    });
  } finally {
    await protocol.close();
  }

  const wrong = await doctor(users.withRole, 'not-the-password');
  assert.equal(wrong.code, 1);
  const auth = wrong.find('authentication')!;
  assert.equal(auth.group, 'service credentials');
  assert.equal(auth.status, 'failure');
  assert.match(auth.fix!, /password/);
  assert.doesNotMatch(wrong.stdout, /DNS|firewall/, 'not filed as a network problem');
  assert.doesNotMatch(wrong.stdout, /not-the-password/);
});

test('with the service role, doctor and ready() pass; doctor --token validates a real Fernet token online and shows its identity', async () => {
  const alice = await api.authenticate({ user: { name: users.alice, domain: { id: 'default' }, password: `${users.alice}-pw` } }, { project: { name: `${users.alice}-project`, domain: { id: 'default' } } });
  const result = await doctor(users.withRole, 'svc-pw', ['--token', alice.token]);
  assert.equal(result.code, 0, result.stdout);
  assert.equal(result.find('may validate tokens')!.status, 'ok');
  const verdict = result.find('verdict')!;
  assert.equal(verdict.status, 'ok');
  assert.match(verdict.evidence, new RegExp(`^VALID \\(validated online by the identity server\\): user ${users.alice} \\(${alice.body.token.user.id}\\) in domain Default, project ${users.alice}-project \\(${alice.body.token.project.id}\\), roles `));
  assert.match(verdict.evidence, /roles [^;]*\bmember\b/);
  assert.match(result.find('keystone_authtoken options')!.evidence, /identity endpoint from the service catalog of the service user's token \(authenticated at auth_url .*; interface internal, region_name RegionOne\)/);
  assert.equal(result.find('not used')?.group, 'signing_dir');
  assert.ok(!result.stdout.includes(alice.token), 'the token is never printed');
  const garbage = await doctor(users.withRole, 'svc-pw', ['--token', `${alice.token.slice(0, -4)}AAAA`]);
  assert.equal(garbage.code, 1);
  assert.match(garbage.find('verdict')!.evidence, /^REFUSED \(ERR_TOKEN_INVALID\)/);

  const protocol = new AuthProtocol({ ...section(users.withRole), password: 'svc-pw', logger: silentLogger });
  try {
    await protocol.ready();
  } finally {
    await protocol.close();
  }
});

/** The fields a token body states, to compare with what inspect reads from the token itself. */
async function inspectJson(token: string): Promise<Record<string, any>> {
  const result = await run(['inspect', token, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

test('inspect reads a real Fernet token: version 0x80 and the creation time, labelled unverified', async () => {
  const { token, body } = await api.authenticate({ user: { name: users.alice, domain: { id: 'default' }, password: `${users.alice}-pw` } }, { project: { name: `${users.alice}-project`, domain: { id: 'default' } } });
  const report = await inspectJson(token);
  assert.equal(report.kind, 'fernet');
  assert.equal(report.fernetVersion, '0x80');
  assert.match(report.unverified, /^UNVERIFIED/);
  // Keystone's issued_at and the Fernet timestamp are taken a moment apart, in whole seconds.
  const skew = Math.abs(Date.parse(report.createdAt) - Date.parse(body.token.issued_at));
  assert.ok(skew <= 2000, `created ${report.createdAt}, issued ${body.token.issued_at}`);
  assert.equal(report.ciphertextBytes % 16, 0);
  const human = await run(['inspect', token]);
  assert.match(human.stdout, /kind: fernet\n.*UNVERIFIED/);
});
