import { test } from 'node:test';
import assert from 'node:assert/strict';
import memjs from 'memjs';
import { SharedTokenCache } from '../../src/cache/shared-cache.js';
import { startPythonMiddleware } from '../helpers/keystone-api.js';
import { Memcached } from '../helpers/memcached.js';
import { useKeystoneService } from '../helpers/keystone-service.js';

/**
 * A mixed Python/Node fleet sharing memcached before a real Keystone 22: no negative entry is written, so Python
 * keystonemiddleware 10.1 never reads an "invalid" marker in front of a token it would accept.
 */

const fleet = useKeystoneService('flt');
const { suffix, user, stops, section, protocolFor } = fleet;
const SERVICE = fleet.service;

test('mixed fleet on one memcached: no negative entry is written, so Python still accepts an expired token beside a service token', async () => {
  const memcached = await Memcached.start();
  stops.push(() => memcached.stop());
  const alice = await fleet.api.authenticate({ user: { name: user.name, domain: { id: 'default' }, password: user.password } }, { project: { name: user.project, domain: { id: 'default' } } });
  const expiresAt = Date.now() + 20_000; // room for a slow Keystone to issue the token first
  const credential = await fleet.api.applicationCredential(alice.body.token.user.id, alice.token, `flt-exp-${suffix}`, { expires_at: new Date(expiresAt).toISOString().replace('Z', ''), roles: [{ name: 'member' }] });
  const expiring = (await fleet.api.authenticate({ methods: ['application_credential'], application_credential: { id: credential.id, secret: credential.secret } })).token;
  const service = (await fleet.api.authenticate({ user: { name: SERVICE.name, domain: { id: 'default' }, password: SERVICE.password } }, { project: { name: SERVICE.project, domain: { id: 'default' } } })).token;
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
