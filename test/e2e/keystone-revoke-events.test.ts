import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authToken, type AuthTokenMiddleware, type AuthTokenOptions } from '../../src/index.js';
import { channels } from '../../src/diagnostics.js';
import { KeystoneApi, realKeystone, startPythonMiddleware } from '../helpers/keystone-api.js';
import { CapturingLogger } from '../helpers/app.js';
import { Memcached } from '../helpers/memcached.js';

/**
 * Keystone's revocation events against a real Keystone 22 (Fernet): for each action that revokes tokens, a token
 * validated and cached before it is refused within revocation_cache_time plus a poll, with token_cache_time at
 * its default (300 s). Python keystonemiddleware 10.1, given the same requests, keeps passing the token (its
 * cache has no revocation check for online tokens): its staleness is recorded over the same window.
 */

const REVOCATION_CACHE_TIME = 1;
/** How long each side is watched after the actions: far under token_cache_time (300 s), far over a poll. */
const WATCH_MS = 20_000;
const SERVICE_PASSWORD = 'rev-svc-secret';

let keystone: Awaited<ReturnType<typeof realKeystone>>;
let api: KeystoneApi;
const stops: (() => Promise<void>)[] = [];

async function startNode(options: AuthTokenOptions) {
  const logger = new CapturingLogger();
  const auth = authToken({ ...options, logger });
  const app = express();
  app.use(auth);
  app.use((req, res) => res.json({ user: req.headers['x-user-id'] }));
  const server: Server = await new Promise((resolve) => {
    const s = createServer(app).listen(0, '127.0.0.1', () => resolve(s));
  });
  stops.push(async () => {
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
    await auth.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, auth, logger };
}

/** wsgiref serves one request at a time with a listen backlog of 5: requests to a Python app go one after another. */
const queues = new Map<string, Promise<unknown>>();
const pythonUrls = new Set<string>();

async function status(url: string, token: string): Promise<{ status: number; reason: string | undefined }> {
  if (!pythonUrls.has(url)) return statusNow(url, token);
  const previous = queues.get(url) ?? Promise.resolve();
  const next = previous.catch(() => {}).then(() => statusNow(url, token));
  queues.set(url, next);
  return next;
}

async function statusNow(url: string, token: string): Promise<{ status: number; reason: string | undefined }> {
  const response = await fetch(`${url}/`, { headers: { 'x-auth-token': token } });
  const text = await response.text();
  let reason: string | undefined;
  try {
    reason = (JSON.parse(text) as { error?: { reason?: string } }).error?.reason;
  } catch {
    reason = undefined;
  }
  return { status: response.status, reason };
}

interface Scenario {
  action: string;
  token: string;
  act: () => Promise<void>;
  /** Validated by keystonemiddleware with memcached, then read from memcached by a node that never validated it. */
  shared?: boolean;
}

before(async () => {
  keystone = await realKeystone();
  stops.push(() => keystone.stop());
  api = new KeystoneApi(keystone.url, keystone.adminPassword);
  await api.login();
});

after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
});

test('revocation events: each revoking action refuses a cached token within revocation_cache_time plus a poll; keystonemiddleware keeps passing it', async () => {
  const member = await api.role('member');
  await api.serviceUser('rev-svc', SERVICE_PASSWORD, 'rev-svc-project');
  const password = (name: string) => ({ user: { name, domain: { id: 'default' }, password: `${name}-pw` } });
  const inProject = (name: string) => ({ project: { name, domain: { id: 'default' } } });
  /** A user with the member role on a project of its own, and a project-scoped token of it. */
  const userWithToken = async (name: string) => {
    const project = await api.project(`${name}-project`);
    const user = await api.user(name, `${name}-pw`);
    await api.grant(member.id, user.id, { project: project.id });
    const { token } = await api.authenticate(password(name), inProject(`${name}-project`));
    return { user, project, token };
  };
  const expect204 = async (method: string, path: string, body?: unknown) => {
    const answer = await api.call(method, path, body);
    assert.ok(answer.status === 204 || answer.status === 200, `${method} ${path} answered ${answer.status}`);
  };

  const phase = (() => {
    let last = Date.now();
    return (name: string) => {
      console.log(`# ${name}: ${((Date.now() - last) / 1000).toFixed(1)} s`);
      last = Date.now();
    };
  })();
  // Each scenario's user, project and token, made concurrently (Keystone runs 8 threads).
  const made = await Promise.all([
    (async (): Promise<Scenario> => {
      const { token } = await userWithToken('rev-token');
      return { action: 'token revoked (DELETE /v3/auth/tokens)', token, act: () => api.revoke(token) };
    })(),
    (async (): Promise<Scenario> => {
      const { user, token } = await userWithToken('rev-disabled');
      return { action: 'user disabled', token, act: () => api.update(`/v3/users/${user.id}`, 'user', { enabled: false }) };
    })(),
    (async (): Promise<Scenario> => {
      const { user, token } = await userWithToken('rev-deleted');
      return { action: 'user deleted', token, act: () => expect204('DELETE', `/v3/users/${user.id}`) };
    })(),
    (async (): Promise<Scenario> => {
      const { user, token } = await userWithToken('rev-password');
      return { action: 'password changed', token, act: () => api.update(`/v3/users/${user.id}`, 'user', { password: 'a-new-password' }) };
    })(),
    (async (): Promise<Scenario> => {
      // The user holds its role only through a group.
      const [project, user, group] = await Promise.all([
        api.project('rev-grouped-project'),
        api.user('rev-grouped', 'rev-grouped-pw'),
        api.call('POST', '/v3/groups', { group: { name: 'rev-group', domain_id: 'default' } }).then((answer) => answer.body.group),
      ]);
      await expect204('PUT', `/v3/groups/${group.id}/users/${user.id}`);
      await expect204('PUT', `/v3/projects/${project.id}/groups/${group.id}/roles/${member.id}`);
      const { token } = await api.authenticate(password('rev-grouped'), inProject('rev-grouped-project'));
      return { action: 'user removed from a group', token, act: () => expect204('DELETE', `/v3/groups/${group.id}/users/${user.id}`) };
    })(),
    (async (): Promise<Scenario> => {
      const { project, token } = await userWithToken('rev-project');
      return { action: 'project deleted', token, act: () => expect204('DELETE', `/v3/projects/${project.id}`) };
    })(),
    (async (): Promise<Scenario> => {
      const [trustor, trustee] = await Promise.all([userWithToken('rev-trustor'), api.user('rev-trustee', 'rev-trustee-pw')]);
      const trust = await api.trust(trustor.token, trustor.user.id, trustee.id, trustor.project.id, ['member']);
      const { token } = await api.authenticate(password('rev-trustee'), { 'OS-TRUST:trust': { id: trust.id } });
      return { action: 'trust deleted', token, act: () => expect204('DELETE', `/v3/OS-TRUST/trusts/${trust.id}`) };
    })(),
    (async (): Promise<Scenario> => {
      const { token } = await userWithToken('rev-shared');
      return { action: 'token revoked, entry written to memcached by keystonemiddleware', token, act: () => api.revoke(token), shared: true };
    })(),
    userWithToken('rev-control'),
  ]);
  const control = made.pop() as Awaited<ReturnType<typeof userWithToken>>;
  const scenarios = made as Scenario[];
  phase('users, projects, tokens made');

  const section = {
    www_authenticate_uri: 'http://keystone.example.test:5000/',
    auth_type: 'password',
    auth_url: `${keystone.url}/v3`,
    username: 'rev-svc',
    password: SERVICE_PASSWORD,
    user_domain_id: 'default',
    project_name: 'rev-svc-project',
    project_domain_id: 'default',
    revocation_cache_time: String(REVOCATION_CACHE_TIME),
  };
  const memcached = await Memcached.start();
  stops.push(() => memcached.stop());
  const [node, nodeShared, python, pythonShared] = await Promise.all([
    startNode({ ...section, http_connect_timeout: 60 }),
    startNode({ ...section, http_connect_timeout: 60, memcached_servers: memcached.address, memcacheTimeout: 2000 }),
    startPythonMiddleware(section),
    startPythonMiddleware({ ...section, memcached_servers: memcached.address }),
  ]);
  stops.push(python.stop, pythonShared.stop);
  pythonUrls.add(python.url).add(pythonShared.url);
  phase('middlewares started');
  const nodeOf = (scenario: { shared?: boolean }) => (scenario.shared ? nodeShared : node);
  const pythonOf = (scenario: { shared?: boolean }) => (scenario.shared ? pythonShared : python);
  const polls: { ok: boolean; added?: number }[] = [];
  const onPoll = (message: unknown) => polls.push(message as { ok: boolean; added?: number });
  channels.revocationEvents.subscribe(onPoll);
  try {
    // Validated and cached on both sides before any action.
    await Promise.all(
      [...scenarios, { action: 'control', token: control.token, shared: false }].map(async (scenario) => {
        const { action, token } = scenario;
        // Python first: with memcached, its entry is what the shared node reads.
        assert.equal((await status(pythonOf(scenario).url, token)).status, 200, `${action}: python, before`);
        assert.equal((await status(nodeOf(scenario).url, token)).status, 200, `${action}: node, before\n${nodeOf(scenario).logger.text()}`);
      }),
    );
    assert.equal(nodeShared.auth.stats.onlineValidations, 0, 'the shared node read keystonemiddleware\'s entry from memcached');
    phase('tokens validated and cached on both sides');
    // The feeds run: at least one poll answered (available) before the actions.
    const started = Date.now();
    for (const each of [node, nodeShared]) {
      while (each.auth.health().revocationEvents.state !== 'available' && Date.now() - started < WATCH_MS) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(each.auth.health().revocationEvents.state, 'available', each.logger.text());
    }
    const validationsBefore = node.auth.stats.onlineValidations;

    const actedAt = new Map<string, number>();
    const ours = new Map<string, number>();
    const theirs = new Map<string, number>();
    const reasons = new Map<string, string | undefined>();
    // One action at a time (Keystone under load dropped concurrent deletes), each watched on our side until the
    // cached token is refused, so that each figure is the time from that action alone.
    for (const scenario of scenarios) {
      const { action, token } = scenario;
      await scenario.act();
      const actedAtMs = Date.now();
      actedAt.set(action, actedAtMs);
      while (Date.now() - actedAtMs < WATCH_MS) {
        const answer = await status(nodeOf(scenario).url, token);
        if (answer.status === 401) {
          ours.set(action, (Date.now() - actedAtMs) / 1000);
          reasons.set(action, answer.reason);
          break;
        }
        assert.equal(answer.status, 200, `${action}: node answered ${answer.status}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    phase('actions done, each watched until refused');
    // Python, given the same tokens after every action was done (and its own revocation_cache_time passed).
    for (const scenario of scenarios) {
      const { action, token } = scenario;
      const answer = await status(pythonOf(scenario).url, token);
      if (answer.status === 401) theirs.set(action, (Date.now() - actedAt.get(action)!) / 1000);
      else assert.equal(answer.status, 200, `${action}: python answered ${answer.status}`);
    }
    const pythonWatched = (action: string) => (Date.now() - actedAt.get(action)!) / 1000;

    const rows = scenarios.map(({ action }) => {
      const mine = ours.get(action);
      const python = theirs.get(action);
      return `| ${action} | ${mine === undefined ? `> ${(WATCH_MS / 1000).toFixed(0)} s (still passing)` : `${mine.toFixed(1)} s`} | ${python === undefined ? `still passing ${pythonWatched(action).toFixed(0)} s after (token_cache_time 300 s)` : `${python.toFixed(1)} s`} |`;
    });
    const health = node.auth.health().revocationEvents;
    console.log(
      [
        `# revocation_cache_time = ${REVOCATION_CACHE_TIME} s, token_cache_time = 300 s (default); seconds from the action until the cached token is refused`,
        '| action | keystone-authtoken | keystonemiddleware 10.1 |',
        '|---|---|---|',
        ...rows,
        `# polls: ${polls.length} (${polls.filter((p) => p.ok).length} ok); events held: ${health.events}; online validations during the watch: ${node.auth.stats.onlineValidations - validationsBefore}`,
      ]
        .map((line) => `# ${line.replace(/^# /, '')}`)
        .join('\n'),
    );
    for (const { action } of scenarios) {
      assert.ok(ours.has(action), `${action}: still passing ${WATCH_MS / 1000} s after the action\n${node.logger.text()}`);
      assert.equal(reasons.get(action), 'ERR_TOKEN_REVOKED', `${action}: refused for the revocation event`);
    }
    // The refusals came from the events, not from asking Keystone again (the cache still held every token).
    assert.equal(node.auth.stats.onlineValidations, validationsBefore, 'no token was validated again');
    assert.equal(nodeShared.auth.stats.onlineValidations, 0, 'the shared node never validated a token itself');
    assert.equal((await status(node.url, control.token)).status, 200, 'a token no event names still passes');
    for (const scenario of scenarios) assert.equal((await status(nodeOf(scenario).url, scenario.token)).status, 401, `${scenario.action}: refused again (the entry was dropped)`);
    assert.equal(health.state, 'available');
    assert.equal(health.stale, false);
    assert.ok(health.events >= scenarios.length, `events held: ${health.events}`);
  } finally {
    channels.revocationEvents.unsubscribe(onPoll);
  }
});
