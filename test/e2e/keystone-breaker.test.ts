import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useKeystoneService } from '../helpers/keystone-service.js';

/**
 * Hostile traffic against a real Keystone 22 (Fernet, under uwsgi, which drops the connection for an X-Subject-Token
 * of about 4 KB): garbage tokens must never open the process-wide circuit breaker.
 */

const { protocolFor, userToken } = useKeystoneService('brk');
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
