import assert from 'node:assert/strict';
import test from 'node:test';
import { tokenBody } from '../../src/testing/index.js';
import { readIdentity } from '../../src/token/access-info.js';
import { serviceHeaders, userHeaders } from '../../src/token/headers.js';

/** A v3 body whose catalog carries every control character and DEL in its names and URLs. */
const CONTROLS = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)).join('') + '\u007f';

function hostileCatalogBody(): unknown {
  const body = tokenBody({ version: 'v3', catalogSize: 2, roles: ['member', 'reader'] }) as { token: { catalog: { name: string; endpoints: { url: string }[] }[] } };
  body.token.catalog[0]!.name = `evil${CONTROLS}name`;
  body.token.catalog[1]!.endpoints[0]!.url = `http://x/\u007f\r\nX-Roles: admin`;
  return body;
}

test('X-Service-Catalog never carries a control character or DEL; the catalog still reads back as JSON', () => {
  const headers = userHeaders(readIdentity(hostileCatalogBody()), true);
  const catalog = headers['x-service-catalog']!;
  assert.doesNotMatch(catalog, /[\u0000-\u001f\u007f]/);
  // JSON.stringify escapes C0 controls itself; DEL and everything above ASCII are \u escapes (as Python's json.dumps).
  assert.ok(catalog.includes('\\u007f'));
  assert.ok(catalog.includes('\\r\\n'));
  assert.match(catalog, /^[\x20-\x7e]*$/);
  const parsed = JSON.parse(catalog) as { name?: string }[];
  assert.equal(parsed[0]!.name, `evil${CONTROLS}name`);
});

test('a catalog named outside ASCII is JSON in ASCII (\\u escapes) and parses back to the same names', () => {
  const identity = readIdentity(tokenBody({ version: 'v3', catalogSize: 2 }));
  const renamed = (identity.catalog as { name?: string }[]).map((service, i) => ({ ...service, name: i === 0 ? '计算 ✨ Nova' : 'Zoë 😀' }));
  const headers = userHeaders({ ...identity, catalog: renamed } as typeof identity, true);
  assert.match(headers['x-service-catalog']!, /^[\x20-\x7e]*$/);
  assert.match(headers['x-service-catalog']!, /\\u8ba1\\u7b97 \\u2728 Nova/);
  assert.deepEqual(JSON.parse(headers['x-service-catalog']!), renamed);
});

test('a catalog without DEL is handed on exactly as JSON.stringify wrote it', () => {
  const identity = readIdentity(tokenBody({ version: 'v3', catalogSize: 3 }));
  assert.equal(userHeaders(identity, true)['x-service-catalog'], JSON.stringify(identity.catalog));
  assert.equal(userHeaders(identity, false)['x-service-catalog'], undefined);
});

test('user and service headers: keystonemiddleware names, roles joined once for X-Roles and X-Role', () => {
  const identity = readIdentity(tokenBody({ version: 'v3', user: 'ann', project: 'p1', roles: ['member', 'reader'] }));
  const user = userHeaders(identity, false);
  assert.equal(user['x-roles'], 'member,reader');
  assert.equal(user['x-role'], 'member,reader');
  assert.equal(user['x-user-name'], 'ann');
  assert.equal(user['x-project-name'], 'p1');
  assert.equal(user['x-tenant-name'], 'p1');
  assert.deepEqual(Object.keys(user).slice(0, 2), ['x-identity-status', 'x-project-id']);
  const service = serviceHeaders(identity);
  assert.equal(service['x-service-roles'], 'member,reader');
  assert.equal(service['x-service-user-name'], 'ann');
  assert.ok(Object.keys(service).every((name) => name.startsWith('x-service-')));
});
