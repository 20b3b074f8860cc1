import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import memjs from 'memjs';
import { AuthProtocol } from '../../src/index.js';
import { SharedTokenCache } from '../../src/cache/shared-cache.js';
import { KeystoneApi, realKeystone, startPythonMiddleware } from '../helpers/keystone-api.js';
import { Memcached } from '../helpers/memcached.js';
import { CapturingLogger, tempDir } from '../helpers/app.js';

/**
 * A mixed Python/Node fleet sharing memcached before a real Keystone 22: no negative entry is written, so Python
 * keystonemiddleware 10.1 never reads an "invalid" marker in front of a token it would accept.
 */

const suffix = randomBytes(3).toString('hex');
const SERVICE = { name: `flt-svc-${suffix}`, password: 'flt-svc-pw', project: `flt-svc-p-${suffix}` };
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
  user = { name: `flt-user-${suffix}`, password: 'flt-user-pw', project: `flt-p-${suffix}` };
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

test('mixed fleet on one memcached: no negative entry is written, so Python still accepts an expired token beside a service token', async () => {
  const memcached = await Memcached.start();
  stops.push(() => memcached.stop());
  const alice = await api.authenticate({ user: { name: user.name, domain: { id: 'default' }, password: user.password } }, { project: { name: user.project, domain: { id: 'default' } } });
  const expiresAt = Date.now() + 20_000; // room for a slow Keystone to issue the token first
  const credential = await api.applicationCredential(alice.body.token.user.id, alice.token, `flt-exp-${suffix}`, { expires_at: new Date(expiresAt).toISOString().replace('Z', ''), roles: [{ name: 'member' }] });
  const expiring = (await api.authenticate({ methods: ['application_credential'], application_credential: { id: credential.id, secret: credential.secret } })).token;
  const service = (await api.authenticate({ user: { name: SERVICE.name, domain: { id: 'default' }, password: SERVICE.password } }, { project: { name: SERVICE.project, domain: { id: 'default' } } })).token;
  const python = await startPythonMiddleware(section({ memcached_servers: memcached.address }));
  stops.push(python.stop);
  await new Promise((resolve) => setTimeout(resolve, expiresAt - Date.now() + 1500));

  const node = protocolFor({ memcached_servers: memcached.address });
  const alone = await node.validate({ 'x-auth-token': expiring });
  assert.equal(alone.status, 'invalid', 'the expired token alone is refused');
  await node.close(); // flushes the shared-cache writes
  const raw = memjs.Client.create(memcached.address);
  try {
    assert.equal((await raw.get(SharedTokenCache.key(expiring))).value, null, 'nothing was written to memcached for the refused token');
  } finally {
    raw.close();
  }
  const response = await fetch(python.url, { headers: { 'x-auth-token': expiring, 'x-service-token': service } });
  assert.equal(response.status, 200, 'Python accepts the expired user token beside a valid service token (allow_expired)');
});
