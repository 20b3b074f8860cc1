import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, loadConfigDetailed, parseIni, resolveOptions, AuthProtocol, type KeystoneAuthError } from '../src/index.js';
import { tempDir } from './helpers/app.js';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error.message;
  }
  assert.fail('expected a ConfigError');
}

const base = { identity_uri: 'http://127.0.0.1:35357' };

test('keystone_authtoken defaults are those of the Python middleware', () => {
  const options = resolveOptions(base);
  assert.equal(options.tokenCacheTime, 300);
  assert.equal(options.revocationCacheTime, 10);
  assert.deepEqual(options.hashAlgorithms, ['md5']);
  assert.equal(options.delayAuthDecision, false);
  assert.equal(options.includeServiceCatalog, true);
  assert.equal(options.enforceTokenBind, 'permissive');
  assert.equal(options.httpMaxRetries, 3);
  assert.equal(options.adminTenantName, 'admin');
  assert.deepEqual(options.serviceTokenRoles, ['service']);
  assert.equal(options.memcacheSecurityStrategy, 'None');
});

test('string values from INI files are coerced as oslo.config does', () => {
  const options = resolveOptions({ ...base, delay_auth_decision: 'True', token_cache_time: '60', hash_algorithms: 'sha256, md5', insecure: 'no', memcached_servers: '10.0.0.1:11211,10.0.0.2:11211' });
  assert.equal(options.delayAuthDecision, true);
  assert.equal(options.tokenCacheTime, 60);
  assert.deepEqual(options.hashAlgorithms, ['sha256', 'md5']);
  assert.equal(options.insecure, false);
  assert.deepEqual(options.memcachedServers, ['10.0.0.1:11211', '10.0.0.2:11211']);
});

test('an unknown option is an error naming the closest valid name', () => {
  assert.equal(configError(() => resolveOptions({ ...base, revocation_cache_tme: 10 } as never)), 'unknown option revocation_cache_tme; did you mean revocation_cache_time?');
  assert.equal(configError(() => resolveOptions({ ...base, signingdir: '/tmp' } as never)), 'unknown option signingdir; did you mean signing_dir?');
  assert.equal(configError(() => resolveOptions({ ...base, completely_else: 1 } as never)), 'unknown option completely_else');
});

test('wrong types and contradictions are errors naming the option, never echoing secrets', () => {
  assert.match(configError(() => resolveOptions({ ...base, token_cache_time: 'soon' })), /option token_cache_time must be an integer, got "soon"/);
  assert.match(configError(() => resolveOptions({ ...base, delay_auth_decision: 'maybe' })), /option delay_auth_decision must be a boolean/);
  assert.match(configError(() => resolveOptions({ ...base, memcache_security_strategy: 'ENCRYPT' })), /memcache_secret_key is not set/);
  // choices compare without case, as oslo.config's readers do
  assert.equal(resolveOptions({ ...base, memcache_security_strategy: 'encrypt', memcache_secret_key: 'k' }).memcacheSecurityStrategy, 'ENCRYPT');
  assert.match(configError(() => resolveOptions({ ...base, memcache_security_strategy: 'rot13', memcache_secret_key: 'k' })), /must be one of None, MAC, ENCRYPT/);
  assert.match(configError(() => resolveOptions({ ...base, admin_user: 'glance' })), /admin_user is set but admin_password is not/);
  assert.match(configError(() => resolveOptions({ ...base, hash_algorithms: 'md5,nope256' })), /hash_algorithms names nope256/);
  assert.match(configError(() => resolveOptions({ identity_uri: 'ftp://x' })), /identity_uri must be an http\(s\) URL/);
  assert.match(configError(() => resolveOptions({})), /identity_uri is required .* or auth_type with auth_url/);
  assert.match(configError(() => resolveOptions({ auth_type: 'password', auth_url: 'http://k/v3', username: 'nova', password: 'p' })), /username nova needs user_domain_id or user_domain_name/);
  assert.match(configError(() => resolveOptions({ auth_type: 'password', auth_url: 'http://k/v3', username: 'nova', password: 'p', user_domain_name: 'Default', project_name: 'service' })), /project_name service needs project_domain_id or project_domain_name/);
  assert.match(configError(() => resolveOptions({ auth_type: 'kerberos', auth_url: 'http://k/v3' })), /auth_type kerberos is not supported/);
  assert.match(configError(() => resolveOptions({ auth_type: 'password', username: 'nova' })), /auth_type password needs auth_url/);
  const secret = configError(() => resolveOptions({ ...base, admin_password: 42 as never }));
  assert.doesNotMatch(secret, /42/);
});

test('the legacy auth_host/auth_port/auth_protocol/auth_admin_prefix compose identity_uri, with a warning', () => {
  const options = resolveOptions({ auth_host: 'keystone.local', auth_port: '35357', auth_protocol: 'http', auth_admin_prefix: '/identity' });
  assert.equal(options.identityUri, 'http://keystone.local:35357/identity');
  assert.match(options.warnings.join('\n'), /legacy option\(s\) auth_host, auth_port, auth_protocol, auth_admin_prefix in use/);
});

test('loadConfig reads [keystone_authtoken] (keystoneauth options included, auth_section followed), or a paste [filter:authtoken]; unused options are named in a warning', () => {
  const dir = tempDir();
  const service = join(dir, 'api.conf');
  writeFileSync(service, [
    '[DEFAULT]', 'debug = true', '',
    '[keystone_authtoken]', '# shared with the Python services', 'identity_uri = http://127.0.0.1:35357',
    'auth_uri = http://127.0.0.1:5000/', 'admin_user = glance', 'admin_password = secret', 'admin_tenant_name = service',
    'revocation_cache_time = 30', 'delay_auth_decision = false', 'auth_type = password', 'memcache_pool_maxsize = 10', '',
  ].join('\n'));
  const loaded = loadConfigDetailed(service);
  assert.equal(loaded.section, 'keystone_authtoken');
  assert.deepEqual(loaded.ignored, ['memcache_pool_maxsize']);
  assert.throws(() => resolveOptions(loaded.options), /auth_type password needs auth_url/, 'auth_type is read, not dropped');
  const current = join(dir, 'current.conf');
  writeFileSync(current, [
    '[keystone_authtoken]', 'www_authenticate_uri = http://keystone.example.test:5000', 'auth_section = service_auth', 'memcache_pool_maxsize = 10',
    'memcache_security_strategy = encrypt', 'memcache_secret_key = k', 'service_type = image', '',
    '[service_auth]', 'auth_type = Password', 'auth_url = http://keystone.example.test:5000/v3', 'username = glance', 'password = secret',
    'user_domain_name = Services', 'project_name = service', 'project_domain_id = default', '',
  ].join('\n'));
  const options = resolveOptions(loadConfig(current));
  assert.equal(options.identityUri, undefined, 'found in the catalog');
  assert.equal(options.credentials?.kind, 'keystoneauth');
  assert.deepEqual(options.credentials?.kind === 'keystoneauth' && options.credentials.body, {
    auth: {
      identity: { methods: ['password'], password: { user: { name: 'glance', domain: { name: 'Services' }, password: 'secret' } } },
      scope: { project: { name: 'service', domain: { id: 'default' } } },
    },
  });
  assert.equal(options.credentials?.kind === 'keystoneauth' && options.credentials.authUrl, 'http://keystone.example.test:5000');
  assert.equal(options.serviceType, 'image');
  assert.equal(options.memcacheSecurityStrategy, 'ENCRYPT');
  assert.match(options.warnings.join('\n'), /options memcache_pool_maxsize in the config section are not used by this library/);
  const paste = join(dir, 'api-paste.ini');
  writeFileSync(paste, '[filter:authtoken]\npaste.filter_factory = keystonemiddleware.auth_token:filter_factory\nidentity_uri = http://10.0.0.1:35357\ndelay_auth_decision = true\n');
  assert.equal(resolveOptions(loadConfig(paste)).delayAuthDecision, true);
  assert.match(configError(() => loadConfig(join(dir, 'missing.conf'))), /cannot read config file/);
  writeFileSync(join(dir, 'other.conf'), '[DEFAULT]\na = b\n');
  assert.match(configError(() => loadConfig(join(dir, 'other.conf'))), /has no \[keystone_authtoken\] section/);
});

test('a signing_dir that cannot be created is a configuration error at start-up, with the fix', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'file'), 'not a directory');
  const message = configError(() => new AuthProtocol({ ...base, signing_dir: join(dir, 'file', 'signing') }));
  assert.match(message, /signing_dir .* cannot be created \(ENOTDIR\); create it for the service user: install -d -m 0700/);
});

test('a logger that is not one (console.log, an object lacking a level) is refused at construction; warnings name their option', () => {
  assert.match(configError(() => new AuthProtocol({ ...base, logger: console.log as never })), /option logger must be an object with debug, info, warn and error methods .*a function \(log\): pass console, not console\.log/);
  assert.match(configError(() => new AuthProtocol({ ...base, logger: { info() {}, error() {} } as never })), /an object without debug, warn/);
  const lines: { object: object; message?: string }[] = [];
  const logger = { debug() {}, info() {}, error() {}, warn: (object: object, message?: string) => void lines.push({ object, message }) };
  const protocol = new AuthProtocol({ ...base, revocation_cache_time: 0, logger });
  void protocol.close();
  const warning = lines.find((line) => /revocation_cache_time = 0/.test(line.message ?? ''));
  assert.deepEqual(warning?.object, { option: 'revocation_cache_time' });
});

test('auth_section lends the auth plugin its options only: insecure, delay_auth_decision, memcache_security_strategy, service_token_roles_required, identity_uri there never replace the main section, and each is named in a warning', () => {
  const dir = tempDir();
  const conf = join(dir, 'service.conf');
  writeFileSync(conf, [
    '[keystone_authtoken]', 'www_authenticate_uri = http://keystone.example.test:5000', 'auth_section = service_auth',
    'memcache_security_strategy = ENCRYPT', 'memcache_secret_key = k', 'interface = internal', '',
    '[service_auth]', 'auth_type = password', 'auth_url = http://keystone.example.test:5000/v3', 'username = glance', 'password = secret',
    'user_domain_name = Default', 'project_name = service', 'project_domain_name = Default',
    // an attacker who can write only this section (or a careless merge) must not switch protections off
    'insecure = true', 'delay_auth_decision = true', 'memcache_security_strategy = None', 'service_token_roles_required = false',
    'identity_uri = http://evil.example.test:5000', 'region_name = RegionTwo', 'interface = public', '',
  ].join('\n'));
  const loaded = loadConfigDetailed(conf);
  const options = resolveOptions(loaded.options);
  assert.equal(options.insecure, false);
  assert.equal(options.delayAuthDecision, false);
  assert.equal(options.memcacheSecurityStrategy, 'ENCRYPT');
  assert.equal(options.serviceTokenRolesRequired, true);
  assert.equal(options.identityUri, undefined, 'found in the catalog, as configured in the main section');
  assert.equal(options.regionName, undefined, 'keystonemiddleware reads region_name and interface from the main section only');
  assert.equal(options.interface, 'internal');
  assert.equal(options.credentials?.kind === 'keystoneauth' && options.credentials.describe, 'user glance at http://keystone.example.test:5000');
  const ignoredHere = ['insecure', 'delay_auth_decision', 'memcache_security_strategy', 'service_token_roles_required', 'identity_uri', 'region_name', 'interface'];
  assert.deepEqual(loaded.ignored, ignoredHere.map((name) => `[service_auth] ${name}`));
  const warning = options.warnings.find((w) => w.option.startsWith('[service_auth]'));
  assert.ok(warning, options.warnings.join('\n'));
  for (const name of ignoredHere) assert.match(warning.message, new RegExp(`\\[service_auth\\] ${name}\\b`));
  assert.match(warning.message, /read for the auth plugin's options only/);

  // Without auth_type there, the section holds the legacy plugin's options (keystonemiddleware's _auth.OPTS).
  writeFileSync(conf, ['[keystone_authtoken]', 'auth_section = legacy', 'www_authenticate_uri = http://k:5000', '',
    '[legacy]', 'identity_uri = http://127.0.0.1:35357', 'admin_user = glance', 'admin_password = p', 'admin_tenant_name = service', 'insecure = true', ''].join('\n'));
  const legacy = resolveOptions(loadConfig(conf));
  assert.equal(legacy.identityUri, 'http://127.0.0.1:35357');
  assert.equal(legacy.credentials?.kind, 'legacy');
  assert.equal(legacy.insecure, false);
});

test('a multi-megabyte line is parsed or refused in linear time: no backtracking on a long line of spaces without "="', () => {
  const spaces = ' '.repeat(5 * 1024 * 1024);
  // The former pattern /^([^=:]+?)\s*[=:]\s*(.*)$/ backtracked over every split of the spaces: 64 KB took 40 s.
  assert.throws(() => parseIni(`[s]\nkey${spaces}value\n`), (error: KeystoneAuthError) => error.code === 'ERR_CONFIG' && /line 2 is neither a \[section\] nor a key = value pair/.test(error.message));
  const parsed = parseIni(`[s]\nkey${spaces}= value${spaces}x\nother: ${'y'.repeat(5 * 1024 * 1024)}\n`);
  assert.equal(parsed.get('s')!.get('key'), `value${spaces}x`);
  assert.equal(parsed.get('s')!.get('other')!.length, 5 * 1024 * 1024);
  assert.throws(() => parseIni(`[${'a'.repeat(5 * 1024 * 1024)}${spaces}`), /line 1 is neither/);
});
