import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AuthProtocol } from '../../src/index.js';
import { KeystoneApi, realKeystone } from '../helpers/keystone-api.js';
import { CapturingLogger, tempDir } from '../helpers/app.js';

/**
 * Hostile traffic against a real Keystone 22 (Fernet, under uwsgi, which drops the connection for an X-Subject-Token
 * of about 4 KB): garbage tokens must never open the process-wide circuit breaker.
 */

const suffix = randomBytes(3).toString('hex');
const SERVICE = { name: `brk-svc-${suffix}`, password: 'brk-svc-pw', project: `brk-svc-p-${suffix}` };
let keystone: Awaited<ReturnType<typeof realKeystone>>;
let api: KeystoneApi;
let user: { name: string; password: string; project: string };
const stops: (() => Promise<void>)[] = [];

before(async () => {
  keystone = await realKeystone();
  stops.push(() => keystone.stop());
  api = new KeystoneApi(keystone.url, keystone.adminPassword);
  await api.login();
  await api.serviceUser(SERVICE.name, SERVICE.password, SERVICE.project);
  user = { name: `brk-user-${suffix}`, password: 'brk-user-pw', project: `brk-p-${suffix}` };
  const project = await api.project(user.project);
  const created = await api.user(user.name, user.password);
  await api.grant((await api.role('member')).id, created.id, { project: project.id });
});

after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
});

function section(extra: Record<string, string> = {}): Record<string, string> {
  return {
    www_authenticate_uri: 'http://keystone.example.test:5000/',
    auth_type: 'password',
    auth_url: `${keystone.url}/v3`,
    username: SERVICE.name,
    password: SERVICE.password,
    user_domain_name: 'Default',
    project_name: SERVICE.project,
    project_domain_name: 'Default',
    interface: 'public',
    service_token_roles_required: 'true',
    ...extra,
  };
}

function protocolFor(extra: Record<string, unknown> = {}): AuthProtocol {
  // Generous timeouts: a loaded test machine's Keystone can take over 10 s to answer, and timeouts are not under test here.
  const protocol = new AuthProtocol({ ...section(), signing_dir: tempDir(), logger: new CapturingLogger(), http_request_max_retries: 0, http_connect_timeout: 60, validationDeadline: 120, ...extra });
  stops.push(() => protocol.close());
  return protocol;
}

const userToken = async () =>
  (await api.authenticate({ user: { name: user.name, domain: { id: 'default' }, password: user.password } }, { project: { name: user.project, domain: { id: 'default' } } })).token;
const garbage = (i: number, length = 5000) => `gAAAAA${i}-`.padEnd(length, 'x');

for (const count of [5, 50]) {
  test(`${count} garbage tokens of 5,000 characters: 401 without asking Keystone, and a valid uncached token still passes`, async () => {
    const protocol = protocolFor();
    for (let i = 0; i < count; i++) {
      const decision = await protocol.validate({ 'x-auth-token': garbage(i) });
      assert.equal(decision.status === 'invalid' && decision.error.code, 'ERR_TOKEN_TOO_LONG');
    }
    assert.equal(protocol.health().identityServer.breaker, 'closed');
    const valid = await protocol.validate({ 'x-auth-token': await userToken() });
    assert.equal(valid.status, 'confirmed', valid.status === 'confirmed' ? '' : valid.error.message);
  });

  test(`${count} garbage tokens Keystone drops the connection for (maxOnlineTokenLength raised): 503 for them only, the circuit stays closed`, async () => {
    const protocol = protocolFor({ maxOnlineTokenLength: 65536, circuitBreakerThreshold: 5 });
    // Sent as an attacker would: five at a time.
    for (let i = 0; i < count; i += 5) {
      const decisions = await Promise.all(Array.from({ length: 5 }, (_, j) => protocol.validate({ 'x-auth-token': garbage(i + j) })));
      for (const decision of decisions) assert.equal(decision.status, 'unavailable', 'Keystone under uwsgi drops the connection');
    }
    assert.equal(protocol.health().identityServer.breaker, 'closed', 'no client token opens the circuit');
    const valid = await protocol.validate({ 'x-auth-token': await userToken() });
    assert.equal(valid.status, 'confirmed', valid.status === 'confirmed' ? '' : valid.error.message);
  });
}
