import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthProtocol } from '../../src/index.js';
import { classifyToken } from '../../src/token/format.js';
import { keystoneMissing, startKeystone, type RunningKeystone } from '../helpers/keystone.mjs';
import { KeystoneApi } from '../helpers/keystone-api.js';
import { CapturingLogger } from '../helpers/app.js';

/**
 * JWS tokens (Keystone's [token] provider = jws, ES256 JSON Web Signatures): validated online like Fernet. The
 * provider is a Keystone-wide setting, so this file starts its own Keystone, signing with a keypair from
 * keystone-manage create_jws_keypair.
 */
let keystone: RunningKeystone;
before(async () => {
  const missing = keystoneMissing();
  if (missing) throw new Error(`a real Keystone is needed: ${missing}`);
  keystone = await startKeystone({ provider: 'jws' });
});
after(() => keystone?.stop());

test('a JWS token from a real Keystone is validated online; revoked, it is refused', async () => {
  const api = new KeystoneApi(keystone.url, keystone.adminPassword);
  await api.login();
  await api.serviceUser('nova', 'nova-pw', 'service');
  const { token, body } = await api.authenticate({ user: { name: 'admin', domain: { id: 'default' }, password: keystone.adminPassword } }, { project: { name: 'admin', domain: { id: 'default' } } });
  assert.match(token, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWS (compact serialisation)');
  assert.equal(classifyToken(token), 'online');
  const logger = new CapturingLogger();
  const protocol = new AuthProtocol({
    auth_type: 'password', auth_url: `${keystone.url}/v3`, username: 'nova', password: 'nova-pw', user_domain_id: 'default',
    project_name: 'service', project_domain_id: 'default', www_authenticate_uri: 'http://keystone.example.test/', logger,
  });
  try {
    const decision = await protocol.validate({ 'x-auth-token': token });
    assert.equal(decision.status, 'confirmed', logger.text());
    assert.equal(decision.status === 'confirmed' && decision.identity.user.id, body.token.user.id);
    assert.equal(decision.headers['x-project-name'], 'admin');
    const other = await api.authenticate({ user: { name: 'nova', domain: { id: 'default' }, password: 'nova-pw' } }, { project: { name: 'service', domain: { id: 'default' } } });
    await api.revoke(other.token);
    assert.equal((await protocol.validate({ 'x-auth-token': other.token })).status, 'invalid');
  } finally {
    await protocol.close();
  }
});

test('inspect reads a real JWS token without keys: header and payload (subject, scope, methods, audit ids, expiry), labelled unverified', async () => {
  const api = new KeystoneApi(keystone.url, keystone.adminPassword);
  const { token, body } = await api.authenticate({ user: { name: 'admin', domain: { id: 'default' }, password: keystone.adminPassword } }, { project: { name: 'admin', domain: { id: 'default' } } });
  const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const stdout = await new Promise<string>((resolve, reject) => execFile(process.execPath, ['--import', 'tsx', cli, 'inspect', token, '--json'], { encoding: 'utf8' }, (error, out) => (error ? reject(error) : resolve(out))));
  const report = JSON.parse(stdout);
  assert.equal(report.kind, 'jws');
  assert.match(report.unverified, /^UNVERIFIED/);
  assert.equal(report.header.alg, 'ES256');
  assert.equal(report.payload.subject, body.token.user.id);
  assert.equal(report.payload.scope, `project ${body.token.project.id}`);
  assert.deepEqual(report.payload.methods, ['password']);
  assert.deepEqual(report.payload.auditIds, body.token.audit_ids);
  assert.equal(report.payload.expiresAt, new Date(Math.floor(Date.parse(body.token.expires_at) / 1000) * 1000).toISOString());
  assert.equal(report.payload.expired, false);
  assert.equal(report.signatureBytes, 64);
});
