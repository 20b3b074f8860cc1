import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { authToken, loadConfig, type AuthTokenMiddleware } from '../../src/index.js';
import { startEchoApp } from '../helpers/echo-app.js';
import { headerDifferences } from '../helpers/header-differences.js';
import { KeystoneApi, realKeystone, startPythonMiddleware } from '../helpers/keystone-api.js';
import { CapturingLogger, tempDir } from '../helpers/app.js';

/**
 * Today's Keystone for real: Keystone 22 (Debian's python3-keystone, Fernet tokens) on 127.0.0.1 under /identity,
 * the middleware configured as current services are (keystoneauth options in [keystone_authtoken], read by
 * loadConfig, the identity endpoint found in the catalog, a service user outside the default domain), and Python
 * keystonemiddleware 10.1 beside it with the same options: each scenario goes to both, and status and identity
 * headers must be the same, except where DELIBERATE says why.
 */

/** Where this library answers otherwise than keystonemiddleware 10.1 on purpose. */
const DELIBERATE: Record<string, string> = {
  'system-scoped user token beside a project-scoped service token':
    'keystonemiddleware writes OpenStack-System-Scope from the service token over the user\'s (None here, so the header is dropped); this library describes the user token',
};

const SERVICE_PASSWORD = 'glance-secret';
let keystone: Awaited<ReturnType<typeof realKeystone>>;
let api: KeystoneApi;
const tokens: Record<string, string> = {};
const stops: (() => Promise<void>)[] = [];
let node: { url: string; auth: AuthTokenMiddleware; logger: CapturingLogger };
let nodeDelayed: { url: string };
let python: { url: string; stop: () => Promise<void> };
let pythonDelayed: { url: string; stop: () => Promise<void> };
let expiringAt = 0;

async function startNode(configPath: string) {
  const logger = new CapturingLogger();
  const auth = authToken({ ...loadConfig(configPath), logger, http_request_max_retries: 0 });
  return { url: await startEchoApp(auth, stops), auth, logger };
}

function serviceSection(url: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    www_authenticate_uri: 'http://keystone.example.test:5000/',
    auth_type: 'password',
    auth_url: `${url}/v3`,
    username: 'glance',
    password: SERVICE_PASSWORD,
    user_domain_name: 'Services',
    project_name: 'svc',
    project_domain_name: 'Services',
    region_name: 'RegionOne',
    interface: 'internal',
    service_type: 'compute',
    service_token_roles_required: 'true',
    ...extra,
  };
}

function writeConfig(section: Record<string, string>, extraLines: string[] = []): string {
  const path = join(tempDir('kat-conf-'), 'service.conf');
  writeFileSync(path, ['[DEFAULT]', 'debug = false', '', '[keystone_authtoken]', ...Object.entries(section).map(([k, v]) => `${k} = ${v}`), ...extraLines, ''].join('\n'));
  return path;
}

before(async () => {
  keystone = await realKeystone();
  stops.push(() => keystone.stop());
  api = new KeystoneApi(keystone.url, keystone.adminPassword);
  await api.login();
  // A compute service in the catalog: access rules name it (service_type = compute).
  const compute = await api.call('POST', '/v3/services', { service: { type: 'compute', name: 'nova', enabled: true } });
  for (const iface of ['public', 'internal']) {
    await api.call('POST', '/v3/endpoints', { endpoint: { service_id: compute.body.service.id, interface: iface, url: 'http://127.0.0.1:8774/v2.1', region_id: 'RegionOne' } });
  }
  const member = await api.role('member');
  const service = await api.role('service');
  // The service user lives outside the default domain.
  const services = await api.domain('Services');
  const svc = await api.project('svc', services.id);
  const glance = await api.user('glance', SERVICE_PASSWORD, services.id);
  await api.grant(service.id, glance.id, { project: svc.id });
  const demo = await api.project('demo');
  const alice = await api.user('alice', 'alice-pw');
  await api.grant(member.id, alice.id, { project: demo.id });
  await api.grant(member.id, alice.id, { domain: 'default' });
  const unicodeDomain = await api.domain('Dömäin Ünïcode');
  const unicodeProject = await api.project('Prøjekt ☃', unicodeDomain.id);
  const bob = await api.user('Bøb Ünïcode', 'bob-pw', unicodeDomain.id);
  await api.grant(member.id, bob.id, { project: unicodeProject.id });
  const carol = await api.user('carol', 'carol-pw');
  await api.grant(member.id, carol.id, { project: demo.id });
  const doomed = await api.project('doomed');
  await api.grant(member.id, alice.id, { project: doomed.id });
  const trent = await api.user('trent', 'trent-pw');

  const password = (name: string, pw: string, domain: Record<string, string> = { id: 'default' }) => ({ user: { name, domain, password: pw } });
  const inProject = (name: string, domain: Record<string, string> = { id: 'default' }) => ({ project: { name, domain } });
  const aliceScoped = await api.authenticate(password('alice', 'alice-pw'), inProject('demo'));
  tokens.project = aliceScoped.token;
  tokens.domain = (await api.authenticate(password('alice', 'alice-pw'), { domain: { id: 'default' } })).token;
  tokens.system = (await api.authenticate(password('admin', keystone.adminPassword), { system: { all: true } })).token;
  tokens.unscoped = (await api.authenticate(password('alice', 'alice-pw'))).token;
  tokens.unicode = (await api.authenticate(password('Bøb Ünïcode', 'bob-pw', { name: 'Dömäin Ünïcode' }), inProject('Prøjekt ☃', { name: 'Dömäin Ünïcode' }))).token;
  tokens.revoked = (await api.authenticate(password('alice', 'alice-pw'), inProject('demo'))).token;
  await api.revoke(tokens.revoked);
  tokens.disabledUser = (await api.authenticate(password('carol', 'carol-pw'), inProject('demo'))).token;
  await api.update(`/v3/users/${carol.id}`, 'user', { enabled: false });
  tokens.disabledProject = (await api.authenticate(password('alice', 'alice-pw'), inProject('doomed'))).token;
  await api.update(`/v3/projects/${doomed.id}`, 'project', { enabled: false });
  tokens.service = (await api.authenticate(password('glance', SERVICE_PASSWORD, { name: 'Services' }), inProject('svc', { name: 'Services' }))).token;

  const plain = await api.applicationCredential(alice.id, aliceScoped.token, 'plain');
  tokens.appCredential = (await api.authenticate({ methods: ['application_credential'], application_credential: { id: plain.id, secret: plain.secret } })).token;
  const ruled = await api.applicationCredential(alice.id, aliceScoped.token, 'ruled', { access_rules: [{ service: 'compute', method: 'GET', path: '/v2.1/servers/*' }] });
  tokens.accessRules = (await api.authenticate({ methods: ['application_credential'], application_credential: { id: ruled.id, secret: ruled.secret } })).token;
  // A token that expires within seconds: Keystone caps a token at its application credential's expiry.
  expiringAt = Date.now() + 6000;
  const expiring = await api.applicationCredential(alice.id, aliceScoped.token, 'expiring', { expires_at: new Date(expiringAt).toISOString().replace('Z', '') });
  tokens.expiring = (await api.authenticate({ methods: ['application_credential'], application_credential: { id: expiring.id, secret: expiring.secret } })).token;
  const trust = await api.trust(aliceScoped.token, alice.id, trent.id, demo.id, ['member']);
  tokens.trust = (await api.authenticate(password('trent', 'trent-pw'), { 'OS-TRUST:trust': { id: trust.id } })).token;

  // The middleware configured as a current service is: keystoneauth options (one of them in an auth_section), an
  // option only Python's memcache pool uses; the identity endpoint comes from the catalog.
  const section = serviceSection(keystone.url);
  node = await startNode(writeConfig(section, ['memcache_pool_maxsize = 10']));
  nodeDelayed = await startNode(writeConfig({ ...section, delay_auth_decision: 'true' }));
  python = await startPythonMiddleware(section);
  stops.push(python.stop);
  pythonDelayed = await startPythonMiddleware({ ...section, delay_auth_decision: 'true' });
  stops.push(pythonDelayed.stop);
});

after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
});

interface Outcome {
  status: number;
  www: string | null;
  headers: Record<string, string>;
}

/** The identity headers the app saw (what the middlewares set or left), and the answer. */
async function send(base: string, method: string, path: string, headers: Record<string, string>): Promise<Outcome> {
  const response = await fetch(`${base}${path}`, { method, headers });
  const text = await response.text();
  const seen: Record<string, string> = response.status === 200 ? JSON.parse(text).seen : {};
  const identity: Record<string, string> = {};
  for (const [name, value] of Object.entries(seen)) {
    if (/^(x-|openstack-)/.test(name) && !['x-auth-token', 'x-service-token', 'x-storage-token'].includes(name)) identity[name] = value;
  }
  return { status: response.status, www: response.headers.get('www-authenticate'), headers: identity };
}

function differences(ours: Outcome, theirs: Outcome): string[] {
  const found: string[] = [];
  if (ours.status !== theirs.status) found.push(`status ${ours.status} vs Python ${theirs.status}`);
  if (ours.www !== theirs.www) found.push(`WWW-Authenticate ${ours.www} vs Python ${theirs.www}`);
  found.push(...headerDifferences(ours.headers, theirs.headers, 80));
  return found;
}

interface Scenario {
  name: string;
  headers: () => Record<string, string>;
  method?: string;
  path?: string;
  delayed?: boolean;
  expect: number;
  check?: (outcome: Outcome) => void;
}

const SCENARIOS: Scenario[] = [
  { name: 'no token', headers: () => ({}), expect: 401 },
  { name: 'garbage token', headers: () => ({ 'x-auth-token': 'gAAAAABnot-a-token' }), expect: 401 },
  { name: 'project-scoped token', headers: () => ({ 'x-auth-token': tokens.project! }), expect: 200, check: (o) => assert.equal(o.headers['x-project-name'], 'demo') },
  { name: 'domain-scoped token', headers: () => ({ 'x-auth-token': tokens.domain! }), expect: 200, check: (o) => assert.equal(o.headers['x-domain-id'], 'default') },
  { name: 'system-scoped token', headers: () => ({ 'x-auth-token': tokens.system! }), expect: 200, check: (o) => assert.equal(o.headers['openstack-system-scope'], 'all') },
  { name: 'unscoped token', headers: () => ({ 'x-auth-token': tokens.unscoped! }), expect: 200, check: (o) => assert.equal(o.headers['x-project-id'], undefined) },
  { name: 'user, project and domain with unicode names, outside default', headers: () => ({ 'x-auth-token': tokens.unicode! }), expect: 200, check: (o) => assert.equal(o.headers['x-user-name'], 'Bøb Ünïcode') },
  { name: 'application credential token', headers: () => ({ 'x-auth-token': tokens.appCredential! }), expect: 200 },
  { name: 'access rules: allowed request', headers: () => ({ 'x-auth-token': tokens.accessRules! }), path: '/v2.1/servers/abc', expect: 200 },
  { name: 'access rules: method not allowed', headers: () => ({ 'x-auth-token': tokens.accessRules! }), method: 'DELETE', path: '/v2.1/servers/abc', expect: 401 },
  { name: 'access rules: path not allowed', headers: () => ({ 'x-auth-token': tokens.accessRules! }), path: '/v2.1/flavors/abc', expect: 401 },
  { name: 'access rules: path not allowed, with a service token', headers: () => ({ 'x-auth-token': tokens.accessRules!, 'x-service-token': tokens.service! }), path: '/v2.1/flavors/abc', expect: 200 },
  { name: 'trust-scoped token (impersonating the trustor)', headers: () => ({ 'x-auth-token': tokens.trust! }), expect: 200, check: (o) => assert.equal(o.headers['x-user-name'], 'alice') },
  { name: 'revoked token (DELETE /v3/auth/tokens)', headers: () => ({ 'x-auth-token': tokens.revoked! }), expect: 401 },
  { name: 'token of a disabled user', headers: () => ({ 'x-auth-token': tokens.disabledUser! }), expect: 401 },
  { name: 'token of a disabled project', headers: () => ({ 'x-auth-token': tokens.disabledProject! }), expect: 401 },
  { name: 'user token with a valid service token', headers: () => ({ 'x-auth-token': tokens.project!, 'x-service-token': tokens.service! }), expect: 200, check: (o) => assert.equal(o.headers['x-service-user-name'], 'glance') },
  { name: 'system-scoped user token beside a project-scoped service token', headers: () => ({ 'x-auth-token': tokens.system!, 'x-service-token': tokens.service! }), expect: 200 },
  { name: 'user token with a garbage service token', headers: () => ({ 'x-auth-token': tokens.project!, 'x-service-token': 'gAAAAABnope' }), expect: 401 },
  { name: 'user token with a service token lacking a service role', headers: () => ({ 'x-auth-token': tokens.project!, 'x-service-token': tokens.domain! }), expect: 401 },
  { name: 'expired token', headers: () => ({ 'x-auth-token': tokens.expiring! }), expect: 401 },
  { name: 'expired token with a valid service token (allow_expired)', headers: () => ({ 'x-auth-token': tokens.expiring!, 'x-service-token': tokens.service! }), expect: 200 },
  { name: 'expired token with a service token lacking a service role', headers: () => ({ 'x-auth-token': tokens.expiring!, 'x-service-token': tokens.domain! }), expect: 401 },
  { name: 'forged identity headers beside a valid token', headers: () => ({ 'x-auth-token': tokens.project!, 'x-roles': 'admin', 'openstack-system-scope': 'all', 'x-is-admin-project': 'True' }), expect: 200, check: (o) => assert.equal(o.headers['openstack-system-scope'], undefined) },
  { name: 'delay_auth_decision: garbage token', headers: () => ({ 'x-auth-token': 'gAAAAABnot-a-token' }), delayed: true, expect: 200, check: (o) => assert.equal(o.headers['x-identity-status'], 'Invalid') },
  { name: 'delay_auth_decision: no token', headers: () => ({}), delayed: true, expect: 200 },
  { name: 'delay_auth_decision: valid token', headers: () => ({ 'x-auth-token': tokens.project! }), delayed: true, expect: 200, check: (o) => assert.equal(o.headers['x-identity-status'], 'Confirmed') },
];

test('a real Keystone 22: each scenario decided by this library and by Python keystonemiddleware 10.1, alike', async (t) => {
  const wait = expiringAt - Date.now() + 1500;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait)); // the expiring token has expired
  const rows: string[] = [];
  const disagreements: string[] = [];
  let agreed = 0;
  let deliberate = 0;
  for (const scenario of SCENARIOS) {
    const method = scenario.method ?? 'GET';
    const path = scenario.path ?? '/v2.1/servers/abc';
    const headers = scenario.headers();
    const ours = await send(scenario.delayed ? nodeDelayed.url : node.url, method, path, headers);
    const theirs = await send(scenario.delayed ? pythonDelayed.url : python.url, method, path, headers);
    assert.equal(ours.status, scenario.expect, `${scenario.name}: status ${ours.status}, expected ${scenario.expect}\n${node.logger.text().slice(-1500)}`);
    scenario.check?.(ours);
    const found = differences(ours, theirs);
    if (found.length === 0) agreed++;
    else if (DELIBERATE[scenario.name] && ours.status === theirs.status) deliberate++;
    else disagreements.push(`${scenario.name}: ${found.join('; ')}`);
    rows.push(`| ${scenario.name} | ${ours.status} | ${theirs.status} | ${found.length === 0 ? 'same' : DELIBERATE[scenario.name] ? `deliberate: ${found.join('; ')}` : found.join('; ')} |`);
  }
  const summary = `real Keystone 22 vs Python keystonemiddleware 10.1: ${agreed} of ${SCENARIOS.length} scenarios alike (status and identity headers), ${deliberate} deliberately different, ${disagreements.length} disagreement(s)`;
  t.diagnostic(summary);
  console.log(`${summary}\n| scenario | ours | Python | headers |\n|---|---|---|---|\n${rows.join('\n')}`);
  assert.deepEqual(disagreements, []);
  assert.ok(!/glance-secret|alice-pw/.test(node.logger.text()), 'no password in logs');
});

test('a config in the legacy form (admin_user in the default domain, identity_uri) works against the same Keystone', async () => {
  const api2 = new KeystoneApi(keystone.url, keystone.adminPassword);
  await api2.login();
  await api2.serviceUser('nova', 'nova-pw', 'legacy-service');
  const legacy = await startNode(writeConfig({ identity_uri: keystone.url, www_authenticate_uri: 'http://keystone.example.test:5000/', admin_user: 'nova', admin_password: 'nova-pw', admin_tenant_name: 'legacy-service' }));
  const ok = await send(legacy.url, 'GET', '/', { 'x-auth-token': tokens.project! });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['x-user-name'], 'alice');
  assert.equal((await send(legacy.url, 'GET', '/', { 'x-auth-token': tokens.revoked! })).status, 401);
});

test('every keystoneauth form of service credentials authenticates against the real Keystone', async () => {
  const base = { www_authenticate_uri: 'http://keystone.example.test:5000/', auth_url: `${keystone.url}/v3` };
  const glanceToken = (await api.authenticate({ user: { name: 'glance', domain: { name: 'Services' }, password: SERVICE_PASSWORD } }, { project: { name: 'svc', domain: { name: 'Services' } } })).token;
  const glanceId = (await api.call('GET', '/v3/users?name=glance')).body.users[0].id;
  const svcId = (await api.call('GET', '/v3/projects?name=svc')).body.projects[0].id;
  const credential = await api.applicationCredential(glanceId, glanceToken, 'glance-service', { roles: [{ name: 'service' }] });
  const forms: Record<string, Record<string, string>> = {
    'v3applicationcredential by id': { auth_type: 'v3applicationcredential', application_credential_id: credential.id, application_credential_secret: credential.secret },
    'v3applicationcredential by name and user': { auth_type: 'v3applicationcredential', application_credential_name: 'glance-service', application_credential_secret: credential.secret, username: 'glance', user_domain_name: 'Services' },
    'v3password by ids': { auth_type: 'v3password', user_id: glanceId, password: SERVICE_PASSWORD, project_id: svcId },
    'password, system scope': { auth_type: 'password', username: 'admin', password: keystone.adminPassword, user_domain_id: 'default', system_scope: 'all', identity_uri: keystone.url },
    'v3token': { auth_type: 'v3token', token: glanceToken, project_id: svcId },
    'password, default_domain_name': { auth_type: 'password', username: 'glance', password: SERVICE_PASSWORD, default_domain_name: 'Services', project_name: 'svc' },
  };
  for (const [form, section] of Object.entries(forms)) {
    const app = await startNode(writeConfig({ ...base, ...section }));
    const outcome = await send(app.url, 'GET', '/', { 'x-auth-token': tokens.project! });
    assert.equal(outcome.status, 200, `${form}: ${app.logger.text().slice(-800)}`);
    assert.equal(outcome.headers['x-user-name'], 'alice', form);
  }
  // An interface or region the catalog lacks: 503, and the message says what to set.
  const lost = await startNode(writeConfig({ ...base, ...forms['v3password by ids']!, region_name: 'Atlantis' }));
  assert.equal((await send(lost.url, 'GET', '/', { 'x-auth-token': tokens.project! })).status, 503);
  assert.match(lost.logger.text(), /no identity endpoint with interface internal in region Atlantis/);
});

test('wrong service credentials or a dead Keystone: 503, never 401 or a pass', async () => {
  const wrong = await startNode(writeConfig(serviceSection(keystone.url, { password: 'not-the-password' })));
  const outcome = await send(wrong.url, 'GET', '/', { 'x-auth-token': tokens.project! });
  assert.equal(outcome.status, 503);
  assert.match(wrong.logger.text(), /refused the service credentials, user glance/);
  assert.doesNotMatch(wrong.logger.text(), /not-the-password/);
  const dead = await startNode(writeConfig(serviceSection('http://127.0.0.1:9/identity')));
  assert.equal((await send(dead.url, 'GET', '/', { 'x-auth-token': tokens.project! })).status, 503);
});

test('doctor on a config in today\'s form: the catalog endpoint is reached and the service user authenticates', async () => {
  const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const config = writeConfig(serviceSection(keystone.url, { signing_dir: tempDir('kat-doctor-signing-') }));
  const result = spawnSync(process.execPath, ['--import', 'tsx', cli, 'doctor', '--config', config, '--json'], { encoding: 'utf8' });
  const report: { checks: { group: string; name: string; status: string; evidence: string }[] } = JSON.parse(result.stdout);
  const find = (name: string) => report.checks.find((c) => c.name === name) ?? { status: 'missing', evidence: `no check named ${name}: ${report.checks.map((c) => c.name).join(', ')}` };
  assert.equal(find('reachable').status, 'ok', find('reachable').evidence);
  assert.match(find('reachable').evidence, new RegExp(`${keystone.url.replace(/[./]/g, '\\$&')} answered`));
  assert.equal(find('admin credentials').status, 'ok');
  assert.match(find('admin credentials').evidence, /user glance at/);
  assert.equal(find('authentication').status, 'ok', find('authentication').evidence);
  assert.equal(find('may validate tokens').status, 'ok', find('may validate tokens').evidence);
  assert.match(find('token formats').evidence, /Fernet or JWS tokens, validated online/);
  assert.deepEqual(report.checks.filter((c) => c.status === 'failure').map((c) => `${c.group}/${c.name}: ${c.evidence}`), []);
});

test('python3-keystonemiddleware is present for the comparison', () => {
  assert.equal(spawnSync('/usr/bin/python3', ['-c', 'import keystonemiddleware.auth_token'], { stdio: 'ignore' }).status, 0, '.ci/run installs python3-keystonemiddleware');
});
