import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KeystoneApi, realKeystone } from '../helpers/keystone-api.js';
import { startKeystone } from '../helpers/keystone.mjs';

/**
 * The lengths of the tokens a real Keystone 22 issues, Fernet (the run's Keystone) and JWS (one started here), against
 * the default maxOnlineTokenLength (4096): the limit must refuse only what no Keystone issues.
 */

let keystone: Awaited<ReturnType<typeof realKeystone>>;
let api: KeystoneApi;
before(async () => {
  keystone = await realKeystone();
  api = new KeystoneApi(keystone.url, keystone.adminPassword);
  await api.login();
});
after(() => keystone.stop());

test('real token lengths, Fernet and JWS, stay far under maxOnlineTokenLength (4096)', async (t) => {
  const admin = { user: { name: 'admin', domain: { id: 'default' }, password: keystone.adminPassword } };
  const fernet = [(await api.authenticate(admin, { system: { all: true } })).token, (await api.authenticate(admin, { project: { name: 'admin', domain: { id: 'default' } } })).token];
  const jwsKeystone = await startKeystone({ provider: 'jws' });
  let jws: string[];
  try {
    const jwsApi = new KeystoneApi(jwsKeystone.url, jwsKeystone.adminPassword);
    await jwsApi.login();
    // Long ids: a user and project of the longest names Keystone allows give no longer ids (ids are uuids), so
    // the longest JWS is the one with the most claims: project scope, and an application credential.
    const project = await jwsApi.project(`p-${'x'.repeat(60)}`);
    const member = await jwsApi.user(`u-${'y'.repeat(200)}`, 'pw');
    await jwsApi.grant((await jwsApi.role('member')).id, member.id, { project: project.id });
    const scoped = await jwsApi.authenticate({ user: { id: member.id, password: 'pw' } }, { project: { id: project.id } });
    const credential = await jwsApi.applicationCredential(member.id, scoped.token, 'c', { access_rules: [{ service: 'compute', method: 'GET', path: '/v2.1/servers/*' }] });
    const appToken = (await jwsApi.authenticate({ methods: ['application_credential'], application_credential: { id: credential.id, secret: credential.secret } })).token;
    jws = [scoped.token, appToken];
  } finally {
    await jwsKeystone.stop();
  }
  t.diagnostic(`Fernet token lengths: ${fernet.map((x) => x.length).join(', ')}; JWS token lengths: ${jws.map((x) => x.length).join(', ')}`);
  for (const token of [...fernet, ...jws]) assert.ok(token.length * 4 <= 4096, `a real token of ${token.length} characters is at least 4x under the default`);
});

