import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthProtocol } from '../../src/protocol.js';
import { readEvent, revocationSubject, revokes } from '../../src/revocation-events/event.js';
import { RevocationEventIndex } from '../../src/revocation-events/event-index.js';
import { readIdentity } from '../../src/token/access-info.js';
import { CapturingLogger } from '../helpers/app.js';

/** A v3 token body as Keystone 22 serves it (trust-scoped when a trust is given). */
function body(options: { user?: string; project?: string; audit?: string[]; issuedAt?: string; trust?: { id: string; trustor: string; trustee: string } } = {}) {
  return {
    token: {
      methods: ['password'],
      user: { id: options.user ?? 'u1', name: 'alice', domain: { id: 'default', name: 'Default' } },
      project: { id: options.project ?? 'p1', name: 'demo', domain: { id: 'default', name: 'Default' } },
      roles: [{ id: 'r1', name: 'member' }],
      audit_ids: options.audit ?? ['audit-own', 'audit-chain'],
      issued_at: options.issuedAt ?? '2026-01-01T10:00:05.000000Z',
      expires_at: '2026-01-01T11:00:05.000000Z',
      ...(options.trust ? { 'OS-TRUST:trust': { id: options.trust.id, impersonation: true, trustor_user: { id: options.trust.trustor }, trustee_user: { id: options.trust.trustee } } } : {}),
    },
  };
}
const subject = (options: Parameters<typeof body>[0] = {}) => revocationSubject(readIdentity(body(options)));
/** An event as Keystone's RevokeEvent.to_dict() writes it. */
const event = (fields: Record<string, string>, at = '2026-01-01T10:00:05.000000Z') => readEvent({ ...fields, issued_before: at, revoked_at: at })!;

test("keystone's matching rule: every field the event sets must match, and issued_before >= issued_at at whole seconds", () => {
  assert.ok(revokes(event({ audit_id: 'audit-own' }), subject()), 'the token\'s own audit id');
  assert.ok(!revokes(event({ audit_id: 'audit-chain' }), subject()), 'audit_id is matched against the first audit id only');
  assert.ok(revokes(event({ audit_chain_id: 'audit-chain' }), subject()), 'audit_chain_id against the second');
  assert.ok(revokes(event({ user_id: 'u1' }), subject()));
  assert.ok(!revokes(event({ user_id: 'u2' }), subject()));
  assert.ok(revokes(event({ project_id: 'p1' }), subject()));
  assert.ok(!revokes(event({ project_id: 'p1', user_id: 'u2' }), subject()), 'every field must match');
  const trusted = subject({ user: 'trustee', trust: { id: 't1', trustor: 'trustor', trustee: 'trustee' } });
  assert.ok(revokes(event({ 'OS-TRUST:trust_id': 't1' }), trusted));
  assert.ok(revokes(event({ user_id: 'trustor' }), trusted), 'user_id against the trustor');
  assert.ok(revokes(event({ user_id: 'trustee' }), trusted), 'and the trustee');
  assert.ok(revokes(event({ domain_id: 'default' }), subject()), 'domain_id against the user\'s or the scope\'s domain');
  // Keystone's issued_at is whole seconds; an event of the same second revokes the token, one second earlier does not.
  assert.ok(revokes(event({ user_id: 'u1' }, '2026-01-01T10:00:05.000000Z'), subject({ issuedAt: '2026-01-01T10:00:05.000000Z' })));
  assert.ok(!revokes(event({ user_id: 'u1' }, '2026-01-01T10:00:04.000000Z'), subject({ issuedAt: '2026-01-01T10:00:05.000000Z' })));
  assert.ok(revokes(event({ user_id: 'u1' }, '2026-01-01T10:00:05.000000Z'), subject({ issuedAt: '2026-01-01T10:00:05.900000Z' })), 'at one-second precision');
  assert.equal(readEvent({ user_id: 'u1' }), undefined, 'an event without revoked_at is not read');
});

test('the index finds the event among 10,000 by a few lookups, holds repeated events once, moves its generation only for new ones, prunes', () => {
  const index = new RevocationEventIndex();
  const many = Array.from({ length: 10_000 }, (_, i) => event({ [['audit_id', 'user_id', 'project_id', 'OS-TRUST:trust_id'][i % 4]!]: `id${i}` }));
  assert.equal(index.add(many), 10_000);
  assert.equal(index.generation, 1);
  assert.equal(index.find(subject()), undefined);
  assert.equal(index.add([event({ audit_id: 'id0' })]), 0, 'the same event from an overlapping poll');
  assert.equal(index.generation, 1);
  index.add([event({ project_id: 'p1' }, '2026-01-01T10:00:06.000000Z')]);
  assert.equal(index.generation, 2);
  assert.equal(index.find(subject())?.projectId, 'p1');
  assert.equal(index.latestRevokedAtS, Date.parse('2026-01-01T10:00:06Z') / 1000);
  assert.equal(index.prune(Date.parse('2026-01-01T10:00:06Z') / 1000), 10_000, 'events revoked before the cutoff are forgotten');
  assert.equal(index.size, 1);
  assert.equal(index.find(subject())?.projectId, 'p1');
});

/** An identity server that answers OS-REVOKE as `answer` says, and records the `since` of each poll. */
async function eventsServer(answer: (since: string | null) => { status: number; events?: unknown[] }) {
  const sinces: (string | null)[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname !== '/v3/OS-REVOKE/events') return res.writeHead(404).end();
    sinces.push(url.searchParams.get('since'));
    const { status, events } = answer(url.searchParams.get('since'));
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ events: events ?? [], links: {} }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, sinces, close: () => new Promise((resolve) => server.close(resolve)) };
}

test('polls ask from a little before the latest revoked_at (since is strict at whole seconds) and hold each event once', async () => {
  const atMs = Math.floor(Date.now() / 1000) * 1000 - 60_000; // a minute ago: not pruned
  const at = new Date(atMs).toISOString().replace('Z', '000Z');
  const server = await eventsServer(() => ({ status: 200, events: [{ audit_id: 'a1', issued_before: at, revoked_at: at }] }));
  const logger = new CapturingLogger();
  const protocol = new AuthProtocol({ identity_uri: server.url, admin_token: 'static', auth_version: 'v3', logger, http_request_max_retries: 0 });
  try {
    await protocol.revocationEvents.poll();
    await protocol.revocationEvents.poll();
    assert.deepEqual(server.sinces, [null, new Date(atMs - 2000).toISOString()]);
    assert.equal(protocol.health().revocationEvents.events, 1);
    assert.equal(protocol.health().revocationEvents.state, 'available');
    assert.equal(protocol.revocationEvents.generation, 1, 'the repeated event did not move the generation');
  } finally {
    await protocol.close();
    await server.close();
  }
});

test('403/404/410: not available here, said once in a warning and in health(); failures: stale in health(), one warning', async () => {
  let status = 404;
  const server = await eventsServer(() => ({ status }));
  const logger = new CapturingLogger();
  const protocol = new AuthProtocol({ identity_uri: server.url, admin_token: 'static', auth_version: 'v3', logger, http_request_max_retries: 0, revocation_cache_time: 1 });
  try {
    await protocol.revocationEvents.poll();
    await protocol.revocationEvents.poll();
    assert.equal(protocol.health().revocationEvents.state, 'unavailable');
    assert.equal(logger.lines.filter((line) => line.level === 'warn' && /not available/.test(line.message)).length, 1, logger.text());
  } finally {
    await protocol.close();
  }
  status = 500;
  const failing = new AuthProtocol({ identity_uri: server.url, admin_token: 'static', auth_version: 'v3', logger, http_request_max_retries: 0, revocation_cache_time: 1 });
  try {
    failing.revocationEvents.start();
    await failing.revocationEvents.poll();
    await failing.revocationEvents.poll();
    const health = failing.health().revocationEvents;
    assert.equal(health.stale, true);
    assert.match(health.lastError ?? '', /500/);
    assert.equal(logger.lines.filter((line) => line.level === 'warn' && /cannot fetch revocation events/.test(line.message)).length, 1, logger.text());
  } finally {
    await failing.close();
    await server.close();
  }
});
