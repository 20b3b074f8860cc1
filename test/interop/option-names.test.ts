import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigDetailed, resolveOptions } from '../../src/index.js';
import { tempDir } from '../helpers/app.js';

/** Every option name keystonemiddleware 10.1 and the keystoneauth plugins it loads read from [keystone_authtoken]. */
const LIST = `
from keystonemiddleware.auth_token import _opts
from keystoneauth1 import loading
names = [o.name for o in _opts._OPTS] + [o.dest for o in loading.get_auth_common_conf_options()]
for plugin in ['password', 'v3password', 'v3applicationcredential', 'v3token']:
    names += [o.dest for o in loading.get_auth_plugin_conf_options(plugin)]
names += [o.dest for o in loading.get_session_conf_options()] + [o.dest for o in loading.get_adapter_conf_options()]
print(' '.join(sorted(set(names))))
`;

test("every option keystonemiddleware 10.1 and keystoneauth read is used here or named in a warning; none is refused or dropped silently", (t) => {
  const listed = spawnSync('/usr/bin/python3', ['-c', LIST], { encoding: 'utf8' });
  if (listed.status !== 0) {
    t.diagnostic('python3-keystonemiddleware is not installed (.ci/run installs it)');
    assert.fail(`cannot list the Python option names: ${listed.stderr}`);
  }
  const names = listed.stdout.trim().split(' ');
  assert.ok(names.length > 60, `${names.length} names`);
  // A value each option accepts; the credentials make a complete password section.
  const values: Record<string, string> = {
    auth_type: 'password', auth_url: 'http://keystone.example.test:5000/v3', username: 'myapi', password: 'p', user_domain_name: 'Default',
    project_name: 'service', project_domain_name: 'Default', memcache_security_strategy: 'MAC', memcache_secret_key: 'k', interface: 'internal',
    auth_version: 'v3', enforce_token_bind: 'permissive', www_authenticate_uri: 'http://keystone.example.test:5000', auth_uri: 'http://keystone.example.test:5000',
    endpoint_override: 'http://keystone.example.test:5000', memcached_servers: '127.0.0.1:11211', service_token_roles: 'service',
  };
  // Options that contradict the password section above (other credentials or scopes), and an object-valued one.
  const exclusive = new Set(['auth_section', 'cache', 'domain_id', 'domain_name', 'system_scope', 'trust_id', 'project_id', 'user_id', 'token',
    'application_credential_id', 'application_credential_name', 'application_credential_secret', 'default_domain_id', 'default_domain_name',
    'user_domain_id', 'project_domain_id', 'cafile', 'certfile', 'keyfile']);
  const lines = names.filter((name) => !exclusive.has(name)).map((name) => {
    const value = values[name] ?? (/(time|retries|delay|timeout|maxsize|retry)$/.test(name) ? '3' : /^(insecure|delay_auth_decision|include_service_catalog|service_token_roles_required|collect_timing|split_loggers|memcache_use_advanced_pool)$/.test(name) ? 'false' : 'x');
    return `${name} = ${value}`;
  });
  const path = join(tempDir(), 'all.conf');
  writeFileSync(path, `[keystone_authtoken]\n${lines.join('\n')}\n`);
  const loaded = loadConfigDetailed(path);
  const options = resolveOptions(loaded.options);
  assert.equal(options.credentials?.kind, 'keystoneauth');
  assert.equal(options.identityUri, 'http://keystone.example.test:5000', 'endpoint_override is the identity endpoint');
  for (const name of loaded.ignored) assert.match(options.warnings.join('\n'), new RegExp(`\\b${name}\\b`), `${name} is named in a warning`);
  const used = names.length - exclusive.size - loaded.ignored.length;
  t.diagnostic(`${names.length} Python option names: ${used} used here, ${loaded.ignored.length} named in a warning (${loaded.ignored.join(', ')}), ${exclusive.size} left out of this section (other credential forms and scopes, TLS files, the cache object)`);
});
