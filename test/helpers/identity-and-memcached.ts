import { after, before } from 'node:test';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { Memcached } from './memcached.js';

/** The test identity server and memcached of this test file (set by useIdentityServerAndMemcached's hook). */
export let idp: IdentityServer;
export let memcached: Memcached;

/**
 * Starts a test identity server and a memcached before the file's tests, stops both after them. Call once, at the
 * top level of a test file (each file runs in its own process, so `idp` and `memcached` are that file's).
 */
export function useIdentityServerAndMemcached(): void {
  before(async () => {
    idp = await startIdentityServer();
    memcached = await Memcached.start();
  });
  after(async () => {
    // memcached may have failed to start (not installed): the identity server must close all the same.
    await memcached?.stop();
    await idp?.close();
  });
}
