import assert from 'node:assert/strict';
import test from 'node:test';
import { spawnSync } from 'node:child_process';
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

test("a v3 catalog of many regions converts as keystonemiddleware's _normalize_catalog does: one entry per region in the order first seen, none named for endpoints without a region", () => {
  // Regions interleaved and revisited, more of them than the conversion scans before it keeps a map of them.
  const regions = ['RegionOne', 'RegionTwo', ...Array.from({ length: 12 }, (_, i) => `r${i}`)];
  const endpoints: Record<string, unknown>[] = [];
  for (const iface of ['public', 'Internal', 'admin']) {
    for (const region of regions) endpoints.push({ id: `${region}-${iface}`, interface: iface, region, region_id: region, url: `http://${region}.test/${iface}` });
  }
  endpoints.push({ id: 'no-region', interface: 'public', url: 'http://nowhere.test/' });
  endpoints.splice(5, 0, { id: 'late', interface: 'public', region: 'r11', url: 'http://r11.test/again' });
  const catalog = [
    { id: 's1', type: 'compute', name: 'nova', endpoints },
    { id: 's2', type: 'image', endpoints: endpoints.slice(0, 3) },
    { id: 's3', type: 'volume', name: 'cinder', endpoints: [] },
  ];
  const body = tokenBody({ version: 'v3' }) as { token: { catalog: unknown } };
  body.token.catalog = catalog;
  const header = userHeaders(readIdentity(body), true)['x-service-catalog']!;
  const script = 'import json, sys\nfrom keystonemiddleware.auth_token._request import _normalize_catalog\nprint(json.dumps(_normalize_catalog(json.load(sys.stdin))))';
  const python = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(catalog), encoding: 'utf8' });
  assert.equal(python.status, 0, `keystonemiddleware (python3-keystonemiddleware) must be importable for this comparison: ${python.stderr}`);
  assert.deepEqual(JSON.parse(header), JSON.parse(python.stdout));
  // Key order too (a service reading the header as text sees it): the same as keystonemiddleware's.
  assert.equal(header, JSON.stringify(JSON.parse(python.stdout)));
});

test('tokens with the same catalog share one frozen copy of it, and X-Service-Catalog text; their bodies still serialise exactly as signed', () => {
  const first = tokenBody({ version: 'v3', catalogSize: 7, user: 'ann' });
  const second = tokenBody({ version: 'v3', catalogSize: 7, user: 'bob', roles: ['reader'] });
  const signed = JSON.stringify(second);
  const a = readIdentity(JSON.parse(JSON.stringify(first)));
  const b = readIdentity(JSON.parse(signed));
  assert.equal(b.catalog, a.catalog, 'the v2 catalog is the one already converted');
  assert.equal((b.body as { token: { catalog: unknown } }).token.catalog, (a.body as { token: { catalog: unknown } }).token.catalog);
  assert.equal(JSON.stringify(b.body), signed, 'the body serialises as signed');
  assert.ok(Object.isFrozen((b.body as { token: { catalog: object[] } }).token.catalog[0]));
  const headersA = userHeaders(a, true);
  const headersB = userHeaders(b, true);
  assert.equal(headersB['x-service-catalog'], headersA['x-service-catalog']);
  assert.equal(headersB['x-user-name'], 'bob');
  assert.equal(headersB['x-roles'], 'reader');
});

test('a catalog that differs from the kept one in a value, a key, or only the order of its keys is read as its own', () => {
  const base = tokenBody({ version: 'v3', catalogSize: 3 }) as { token: { catalog: Record<string, unknown>[] } };
  const kept = readIdentity(JSON.parse(JSON.stringify(base)));
  const variants: [string, (catalog: Record<string, unknown>[]) => void][] = [
    ['a url', (c) => ((c[2]!.endpoints as Record<string, unknown>[])[1]!.url = 'http://elsewhere.test/v1')],
    ['an extra key', (c) => (c[1]!.extra = true)],
    ['a missing service', (c) => c.pop()],
    ['key order', (c) => (c[0] = Object.fromEntries(Object.entries(c[0]!).reverse()))],
    ['a number for a string', (c) => (c[0]!.name = 7)],
  ];
  for (const [what, change] of variants) {
    readIdentity(JSON.parse(JSON.stringify(base))); // the kept catalog is the base one again
    const body = JSON.parse(JSON.stringify(base)) as typeof base;
    change(body.token.catalog);
    const signed = JSON.stringify(body);
    const identity = readIdentity(JSON.parse(signed));
    assert.notEqual(identity.catalog, kept.catalog, what);
    assert.equal(JSON.stringify(identity.body), signed, `${what}: the body serialises as signed`);
    assert.deepEqual(JSON.parse(userHeaders(identity, true)['x-service-catalog']!), identity.catalog, what);
  }
});
