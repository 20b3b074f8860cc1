import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startIdentityServer, type IdentityServer } from '../../src/testing/index.js';
import { tempDir } from './app.js';
import { keystoneclientMissing } from './keystoneclient.js';

/**
 * The test identity server of this test file, and its signing certificate and key as files (for keystoneclient to
 * sign lists and tokens the server's certificate verifies); set by useKeystoneclientSigner's hook.
 */
export let idp: IdentityServer;
export let cert = '';
export let key = '';

/**
 * Before the file's tests: fails when keystoneclient is missing, starts a test identity server and writes its
 * signing certificate and key to a private directory; after them, stops the server. Call once, at the top level
 * of a test file.
 */
export function useKeystoneclientSigner(): void {
  before(async () => {
    const missing = keystoneclientMissing();
    if (missing) assert.fail(`${missing}; .ci/run installs it`);
    idp = await startIdentityServer();
    const dir = tempDir();
    cert = join(dir, 'signing.pem');
    key = join(dir, 'signing.key');
    writeFileSync(cert, idp.pki.signing.pem);
    writeFileSync(key, idp.pki.signing.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  });
  after(() => idp?.close());
}
