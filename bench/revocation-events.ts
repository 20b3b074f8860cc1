// The cost of Keystone's revocation events on a cache hit: decide() on a cached online token with no events held,
// with 10,000 held (the steady state: the entry was checked at the current generation), and with 10,000 held
// and the generation moved before every call (the entry checked against the indexes each time: the worst case).
// Measured in alternating rounds in one process; the difference to the first row is the events' cost.
import { AuthProtocol } from '../src/protocol.js';
import type { Logger } from '../src/logger.js';
import { readEvent } from '../src/revocation-events/event.js';
import { startIdentityServer } from '../src/testing/index.js';
import { compareMicros } from './timing.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** 10,000 events as a busy cloud holds them: revoked tokens, users, projects, trusts; five name this token's user, issued before it. */
function events(count: number, userId: string, issuedAt: Date): unknown[] {
  const revokedAt = new Date(Date.now() - 60_000).toISOString();
  const list: unknown[] = [];
  for (let i = 0; i < count - 5; i++) {
    const kind = i % 10;
    const id = `${i.toString(16).padStart(8, '0')}${'0'.repeat(24)}`;
    const field = kind < 4 ? { audit_id: id.slice(0, 22) } : kind < 7 ? { user_id: id } : kind < 9 ? { project_id: id } : { 'OS-TRUST:trust_id': id };
    list.push({ ...field, issued_before: revokedAt, revoked_at: revokedAt });
  }
  const before = new Date(issuedAt.getTime() - 10_000 * 1000).toISOString();
  for (let i = 0; i < 5; i++) list.push({ user_id: userId, issued_before: before, revoked_at: new Date(issuedAt.getTime() - (10_000 - i) * 1000).toISOString() });
  return list;
}

export async function benchRevocationEvents(held = 10_000): Promise<Record<string, string | number>[]> {
  const idp = await startIdentityServer();
  const token = await idp.issueToken({ format: 'uuid' });
  const make = async () => {
    const protocol = new AuthProtocol({ identity_uri: idp.url, ...idp.adminCredentials, auth_version: 'v3', logger: quiet, revocationEvents: false });
    const decision = await protocol.validate({ 'x-auth-token': token });
    if (decision.status !== 'confirmed') throw new Error(`token not confirmed: ${decision.status}`);
    return { protocol, identity: decision.identity };
  };
  const none = await make();
  const steady = await make();
  const moving = await make();
  for (const { protocol, identity } of [steady, moving]) protocol.revocationEvents.index.add(events(held, identity.user.id, identity.issuedAt!).map((raw) => readEvent(raw)!));
  const headers = { 'x-auth-token': token };
  const entryOf = (protocol: AuthProtocol) => {
    const entry = protocol.pipeline.lookup(protocol.pipeline.tokenIds(token));
    if (!entry?.valid) throw new Error('no cached entry');
    return entry;
  };
  const movingEntry = entryOf(moving.protocol);
  const hit = (protocol: AuthProtocol) => () => {
    const decision = protocol.decide(headers);
    if (decision instanceof Promise || decision.status !== 'confirmed') throw new Error('not a synchronous confirmed hit');
  };
  const [base, steadyMicros, movingMicros] = compareMicros([
    hit(none.protocol),
    hit(steady.protocol),
    () => {
      movingEntry.eventsChecked = undefined; // as when an event arrived since the entry was last checked
      hit(moving.protocol)();
    },
  ]);
  for (const { protocol } of [none, steady, moving]) await protocol.close();
  await idp.close();
  const row = (name: string, micros: number) => ({ 'cache hit (online token)': name, 'µs/hit': micros.toFixed(3), 'µs over none': (micros - base!).toFixed(3), ratio: (micros / base!).toFixed(2) });
  return [
    row('no events held', base!),
    row(`${held.toLocaleString('en')} events held, entry checked at this generation`, steadyMicros!),
    row(`${held.toLocaleString('en')} events held, generation moved before every hit`, movingMicros!),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await benchRevocationEvents());
  process.exit(0);
}
