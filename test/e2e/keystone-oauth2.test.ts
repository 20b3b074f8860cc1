import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { oauth2Token, type AuthTokenMiddleware, type AuthTokenOptions } from '../../src/index.js';
import { startEchoApp } from '../helpers/echo-app.js';
import { headerDifferences } from '../helpers/header-differences.js';
import { KeystoneApi, realKeystone, startPythonMiddleware } from '../helpers/keystone-api.js';
import { CapturingLogger } from '../helpers/app.js';

/**
 * OAuth2 client-credentials access tokens against the real Keystone 22: tokens from POST /v3/OS-OAUTH2/token
 * (HTTP Basic with an application credential), sent as `Authorization: Bearer`, decided by oauth2Token() and by
 * Python keystonemiddleware 10.1's oauth2_token filter with the same options. Status, identity headers, the
 * Authorization header the application is left, and the 401 body must be alike, except where DELIBERATE says why.
 */

const PYTHON_CHALLENGE = 'WWW-Authenticate: RFC 6750 Bearer challenge first, then keystonemiddleware\'s Keystone uri="..." challenge unchanged';
const IDENTITY_STATUS = 'X-Identity-Status: Confirmed is set (oauth2_token sets no X-Identity-Status on success, so apps that check it, e.g. Swift\'s keystoneauth, would refuse the request)';
const DELIBERATE: Record<string, string> = {
  'access rules: path not allowed, with any X-Service-Token header':
    'oauth2_token never validates X-Service-Token, yet its access-rule check skips the rules when the header is present: any client could lift its application credential\'s access rules by sending X-Service-Token: x. Here X-Service-Token is not read and the rules always apply',
  'delay_auth_decision: garbage bearer token': 'oauth2_token ignores delay_auth_decision (always 401); here the option is honoured as for X-Auth-Token: the request goes on with X-Identity-Status: Invalid',
  'two spaces after Bearer': 'oauth2_token passes " <token>" on, and HTTP trims it on its way to Keystone, so the token passes there; here a bearer token must be an RFC 6750 b64token (no whitespace): 401 ERR_TOKEN_MALFORMED',
};

const SERVICE_PASSWORD = 'nova-oauth-secret';
/** Names are unique per run: the suite's Keystone is shared by the files of a run. */
const RUN = Math.random().toString(36).slice(2, 8);
let keystone: Awaited<ReturnType<typeof realKeystone>>;
let api: KeystoneApi;
const tokens: Record<string, string> = {};
const stops: (() => Promise<void>)[] = [];
const nodes: Record<string, { url: string; auth: AuthTokenMiddleware; logger: CapturingLogger }> = {};
const pythons: Record<string, { url: string }> = {};
let client = { id: '', secret: '' };
let expiringAt = 0;

async function startNode(options: AuthTokenOptions) {
  const logger = new CapturingLogger();
  const auth = oauth2Token({ ...options, logger, http_request_max_retries: 0 });
  return { url: await startEchoApp(auth, stops), auth, logger };
}

function section(url: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    www_authenticate_uri: 'http://keystone.example.test:5000/',
    auth_type: 'password',
    auth_url: `${url}/v3`,
    username: `nova-oauth-${RUN}`,
    password: SERVICE_PASSWORD,
    user_domain_id: 'default',
    project_name: `oauth-service-${RUN}`,
    project_domain_id: 'default',
    region_name: 'RegionOne',
    interface: 'internal',
    service_type: 'compute',
    // Keystone under a loaded machine (the suite shares two cores) can take seconds per answer.
    http_connect_timeout: '60',
    ...extra,
  };
}

before(async () => {
  keystone = await realKeystone();
  stops.push(() => keystone.stop());
  api = new KeystoneApi(keystone.url, keystone.adminPassword);
  await api.login();
  const existing = await api.call('GET', '/v3/services?type=compute');
  if (existing.body.services.length === 0) {
    const compute = await api.call('POST', '/v3/services', { service: { type: 'compute', name: 'nova', enabled: true } });
    for (const iface of ['public', 'internal']) {
      await api.call('POST', '/v3/endpoints', { endpoint: { service_id: compute.body.service.id, interface: iface, url: 'http://127.0.0.1:8774/v2.1', region_id: 'RegionOne' } });
    }
  }
  await api.serviceUser(`nova-oauth-${RUN}`, SERVICE_PASSWORD, `oauth-service-${RUN}`);
  const member = await api.role('member');
  const project = await api.project(`oauth-demo-${RUN}`);
  const dora = await api.user(`dora-${RUN}`, 'dora-pw');
  await api.grant(member.id, dora.id, { project: project.id });
  const doraToken = (await api.authenticate({ user: { name: `dora-${RUN}`, domain: { id: 'default' }, password: 'dora-pw' } }, { project: { name: `oauth-demo-${RUN}`, domain: { id: 'default' } } })).token;
  tokens.password = doraToken;

  const issue = async (credential: Record<string, any>) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const { status, body } = await api.oauth2Token(credential.id, credential.secret);
    assert.equal(status, 200, `POST /v3/OS-OAUTH2/token: ${JSON.stringify(body)}`);
    assert.equal(body.token_type, 'Bearer');
    return body.access_token as string;
  };
  // Keystone caps a token at its application credential's expiry: an access token that expires within seconds
  // (made first, so that the rest of the setup runs while it expires; the margin is for a loaded machine).
  expiringAt = Date.now() + 25_000;
  const expiring = await api.applicationCredential(dora.id, doraToken, 'oauth-expiring', { expires_at: new Date(expiringAt).toISOString().replace('Z', '') });
  tokens.expiring = await issue(expiring);
  const plain = await api.applicationCredential(dora.id, doraToken, 'oauth-client');
  client = { id: plain.id, secret: plain.secret };
  tokens.access = await issue(client);
  tokens.revoked = await issue(client);
  await api.revoke(tokens.revoked);
  const ruled = await api.applicationCredential(dora.id, doraToken, 'oauth-ruled', { access_rules: [{ service: 'compute', method: 'GET', path: '/v2.1/servers/*' }] });
  tokens.ruled = await issue(ruled);

  const conf = section(keystone.url);
  const configs = { main: conf, delayed: { ...conf, delay_auth_decision: 'true' }, dead: section('http://127.0.0.1:9/identity') };
  // Started side by side: three Python interpreters importing keystonemiddleware take a while on a loaded machine.
  await Promise.all(Object.entries(configs).map(async ([name, options]) => {
    const [node, python] = await Promise.all([startNode(options), startPythonMiddleware(options, 'oauth2_token')]);
    stops.push(python.stop);
    nodes[name] = node;
    pythons[name] = python;
  }));
});

after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
});

interface Outcome {
  status: number;
  www: string | null;
  body: unknown;
  headers: Record<string, string>;
}

async function send(base: string, method: string, path: string, headers: Record<string, string>): Promise<Outcome> {
  const response = await fetch(`${base}${path}`, { method, headers });
  const text = await response.text();
  let parsed: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = { text: text.slice(0, 80) }; // e.g. wsgiref's HTML page for an exception in the Python middleware
  }
  const seen: Record<string, string> = response.status === 200 ? parsed?.seen ?? {} : {};
  const identity: Record<string, string> = {};
  for (const [name, value] of Object.entries(seen)) {
    if (/^(x-|openstack-)/.test(name) || name === 'authorization') identity[name] = value;
  }
  if (parsed?.error) delete parsed.error.reason; // ours names the error code (exposeReason); Python's has none
  return { status: response.status, www: response.headers.get('www-authenticate'), body: response.status === 200 ? undefined : parsed, headers: identity };
}

/** Differences beside the two that hold for every request (PYTHON_CHALLENGE, IDENTITY_STATUS), which are checked here. */
function differences(ours: Outcome, theirs: Outcome): string[] {
  const found: string[] = [];
  if (ours.status !== theirs.status) found.push(`status ${ours.status} vs Python ${theirs.status}`);
  if (theirs.www !== null) {
    if (!ours.www?.startsWith('Bearer realm="OpenStack"') || !ours.www.endsWith(`, ${theirs.www}`)) found.push(`WWW-Authenticate ${ours.www} vs Python ${theirs.www}`);
  } else if (ours.www !== null && ours.status === theirs.status) found.push(`WWW-Authenticate ${ours.www} vs Python (none)`);
  if (ours.status === 401 && theirs.status === 401 && JSON.stringify(ours.body) !== JSON.stringify(theirs.body)) found.push(`body ${JSON.stringify(ours.body)} vs Python ${JSON.stringify(theirs.body)}`);
  // IDENTITY_STATUS aside.
  found.push(...headerDifferences(ours.headers, theirs.headers, 60, (name, a, b) => name === 'x-identity-status' && b === undefined && a === 'Confirmed'));
  return found;
}

interface Scenario {
  name: string;
  headers: () => Record<string, string>;
  method?: string;
  path?: string;
  app?: 'main' | 'delayed' | 'dead';
  expect: number;
  check?: (outcome: Outcome) => void;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const SCENARIOS: Scenario[] = [
  {
    name: 'OAuth2 access token (Authorization: Bearer)', headers: () => bearer(tokens.access!), expect: 200, check: (o) => {
      assert.equal(o.headers['x-user-name'], `dora-${RUN}`);
      assert.equal(o.headers['x-project-name'], `oauth-demo-${RUN}`);
      assert.equal(o.headers['x-identity-status'], 'Confirmed');
      assert.equal(o.headers.authorization, `Bearer ${tokens.access}`, 'the application is left the Authorization header, as in Python');
    },
  },
  { name: 'no Authorization header', headers: () => ({}), expect: 401, check: (o) => assert.equal(o.www, 'Bearer realm="OpenStack", Keystone uri="http://keystone.example.test:5000/"') },
  { name: 'the same token in X-Auth-Token only', headers: () => ({ 'x-auth-token': tokens.access! }), expect: 401 },
  { name: 'a password token as Bearer', headers: () => bearer(tokens.password!), expect: 200, check: (o) => assert.equal(o.headers['x-user-name'], `dora-${RUN}`) },
  { name: 'Basic with the application credential', headers: () => ({ authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}` }), expect: 401 },
  { name: 'lower-case scheme (bearer <token>)', headers: () => ({ authorization: `bearer ${tokens.access}` }), expect: 401 },
  { name: 'upper-case scheme (BEARER <token>)', headers: () => ({ authorization: `BEARER ${tokens.access}` }), expect: 401 },
  { name: 'two spaces after Bearer', headers: () => ({ authorization: `Bearer  ${tokens.access}` }), expect: 401 },
  { name: 'Bearer without a token', headers: () => ({ authorization: 'Bearer' }), expect: 401 },
  { name: 'garbage bearer token', headers: () => bearer('gAAAAABnot-a-token'), expect: 401, check: (o) => assert.match(o.www ?? '', /^Bearer realm="OpenStack", error="invalid_token", Keystone uri=/) },
  { name: 'revoked access token (DELETE /v3/auth/tokens)', headers: () => bearer(tokens.revoked!), expect: 401 },
  { name: 'expired access token (application credential expired)', headers: () => bearer(tokens.expiring!), expect: 401 },
  { name: 'expired access token with a valid service token', headers: () => ({ ...bearer(tokens.expiring!), 'x-service-token': tokens.password! }), expect: 401 },
  { name: 'access rules: allowed request', headers: () => bearer(tokens.ruled!), path: '/v2.1/servers/abc', expect: 200 },
  { name: 'access rules: method not allowed', headers: () => bearer(tokens.ruled!), method: 'DELETE', path: '/v2.1/servers/abc', expect: 401 },
  { name: 'access rules: path not allowed', headers: () => bearer(tokens.ruled!), path: '/v2.1/flavors/abc', expect: 401 },
  { name: 'access rules: path not allowed, with any X-Service-Token header', headers: () => ({ ...bearer(tokens.ruled!), 'x-service-token': 'x' }), path: '/v2.1/flavors/abc', expect: 401 },
  { name: 'valid bearer token beside a garbage X-Auth-Token and X-Service-Token', headers: () => ({ ...bearer(tokens.access!), 'x-auth-token': 'garbage', 'x-service-token': 'garbage' }), expect: 200, check: (o) => assert.equal(o.headers['x-service-identity-status'], undefined) },
  {
    name: 'forged identity headers beside a valid bearer token', headers: () => ({ ...bearer(tokens.access!), 'x-roles': 'admin', 'x-identity-status': 'Confirmed', 'x-service-roles': 'service', 'openstack-system-scope': 'all' }), expect: 200,
    check: (o) => { assert.doesNotMatch(o.headers['x-roles'] ?? '', /admin/); assert.equal(o.headers['x-service-roles'], undefined); assert.equal(o.headers['openstack-system-scope'], undefined); },
  },
  { name: 'delay_auth_decision: garbage bearer token', headers: () => bearer('gAAAAABnot-a-token'), app: 'delayed', expect: 200, check: (o) => assert.equal(o.headers['x-identity-status'], 'Invalid') },
  { name: 'identity server unreachable', headers: () => bearer(tokens.access!), app: 'dead', expect: 503 },
];

test('a real Keystone 22: OAuth2 access tokens decided by oauth2Token() and by Python oauth2_token (keystonemiddleware 10.1), alike', async (t) => {
  const wait = expiringAt - Date.now() + 1500;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait)); // the expiring token has expired
  const rows: string[] = [];
  const disagreements: string[] = [];
  let agreed = 0;
  let deliberate = 0;
  for (const scenario of SCENARIOS) {
    const method = scenario.method ?? 'GET';
    const path = scenario.path ?? '/v2.1/servers/abc';
    const app = scenario.app ?? 'main';
    const headers = scenario.headers();
    const ours = await send(nodes[app]!.url, method, path, headers);
    const theirs = await send(pythons[app]!.url, method, path, headers);
    assert.equal(ours.status, scenario.expect, `${scenario.name}: status ${ours.status}, expected ${scenario.expect}\n${nodes[app]!.logger.text().slice(-1500)}`);
    scenario.check?.(ours);
    const found = differences(ours, theirs);
    if (found.length === 0) agreed++;
    else if (DELIBERATE[scenario.name]) deliberate++;
    else disagreements.push(`${scenario.name}: ${found.join('; ')}`);
    rows.push(`| ${scenario.name} | ${ours.status} | ${theirs.status} | ${found.length === 0 ? 'same' : DELIBERATE[scenario.name] ? `deliberate: ${DELIBERATE[scenario.name]}` : found.join('; ')} |`);
  }
  const summary = `OAuth2 on a real Keystone 22 vs Python oauth2_token 10.1: ${agreed} of ${SCENARIOS.length} scenarios alike (status, identity headers, Authorization left to the app, 401 body), ${deliberate} deliberately different, ${disagreements.length} disagreement(s)`;
  t.diagnostic(summary);
  console.log(`${summary}\nOn every request: ${PYTHON_CHALLENGE}; ${IDENTITY_STATUS}.\n| scenario | ours | Python | headers |\n|---|---|---|---|\n${rows.join('\n')}`);
  assert.deepEqual(disagreements, []);
  assert.ok(!/nova-oauth-secret|dora-pw/.test(nodes.main!.logger.text()), 'no password in logs');
  assert.ok(!nodes.main!.logger.text().includes(tokens.access!), 'no whole token in logs');
});

test('Keystone 22 refuses POST /v3/OS-OAUTH2/token without client_credentials or with a wrong secret (what clients get before they reach a service)', async () => {
  assert.equal((await api.oauth2Token(client.id, 'not-the-secret')).status, 401);
  const response = await fetch(`${keystone.url}/v3/OS-OAUTH2/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=password',
  });
  assert.equal(response.status, 400);
  assert.equal((await response.json()).error, 'unsupported_grant_type');
});
