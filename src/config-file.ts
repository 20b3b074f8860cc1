import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { KEYSTONEAUTH_OPTIONS } from './identity/credentials.js';
import type { AuthTokenOptions } from './options.js';

/**
 * Options that Python services keep in the same section but that this library does not use: keystonemiddleware's
 * memcache pool tuning and logging, keystoneauth's session and adapter tuning. They are skipped, listed in `ignored`, and named in a warning at start-up
 * (through the ignoredOptions option), so one config file serves Python and Node services alike.
 */
const FOREIGN_OPTIONS = new Set([
  'memcache_pool_dead_retry', 'memcache_pool_maxsize', 'memcache_pool_socket_timeout', 'memcache_pool_unused_timeout',
  'memcache_pool_conn_get_timeout', 'memcache_use_advanced_pool', 'memcache_sasl_enabled', 'memcache_username', 'memcache_password',
  'timeout', 'collect_timing', 'split-loggers', 'split_loggers', 'log_name',
  // keystoneauth session and adapter tuning (retries, version bounds): this library has its own
  // (http_request_max_retries, auth_version)
  'connect_retries', 'connect_retry_delay', 'status_code_retries', 'status_code_retry_delay', 'version', 'min_version',
  'max_version', 'service_name', 'valid_interfaces',
  'use', 'paste.filter_factory', 'paste.app_factory',
]);

/**
 * What keystonemiddleware 10.1 reads from the section named by auth_section (`_create_auth_plugin`): the auth
 * plugin's name (auth_type, once auth_plugin), then that plugin's options as keystoneauth 5 declares them
 * (`loading.get_auth_plugin_conf_options`); without auth_type there, the legacy plugin's options (`_auth.OPTS`).
 */
const PLUGIN_OPTIONS: Record<string, readonly string[]> = {
  password: ['auth_url', 'default_domain_id', 'default_domain_name', 'domain_id', 'domain_name', 'password', 'project_domain_id', 'project_domain_name', 'project_id', 'project_name', 'system_scope', 'trust_id', 'user_domain_id', 'user_domain_name', 'user_id', 'username', 'tenant_id', 'tenant_name'],
  v3password: ['auth_url', 'domain_id', 'domain_name', 'password', 'project_domain_id', 'project_domain_name', 'project_id', 'project_name', 'system_scope', 'trust_id', 'user_domain_id', 'user_domain_name', 'user_id', 'username'],
  v2password: ['auth_url', 'password', 'tenant_id', 'tenant_name', 'trust_id', 'user_id', 'username'],
  v3applicationcredential: ['application_credential_id', 'application_credential_name', 'application_credential_secret', 'auth_url', 'domain_id', 'domain_name', 'project_domain_id', 'project_domain_name', 'project_id', 'project_name', 'system_scope', 'trust_id', 'user_domain_id', 'user_domain_name', 'user_id', 'username'],
  token: ['auth_url', 'default_domain_id', 'default_domain_name', 'domain_id', 'domain_name', 'project_domain_id', 'project_domain_name', 'project_id', 'project_name', 'system_scope', 'token', 'trust_id', 'tenant_id', 'tenant_name'],
  v3token: ['auth_url', 'domain_id', 'domain_name', 'project_domain_id', 'project_domain_name', 'project_id', 'project_name', 'system_scope', 'token', 'trust_id'],
};
PLUGIN_OPTIONS.applicationcredential = PLUGIN_OPTIONS.v3applicationcredential!;
const LEGACY_PLUGIN_OPTIONS = ['auth_admin_prefix', 'auth_host', 'auth_port', 'auth_protocol', 'identity_uri', 'admin_token', 'admin_user', 'admin_password', 'admin_tenant_name'];

/** The option names read from auth_section for this auth_type (an unknown plugin: all keystoneauth names, so that resolving names the plugin). */
function authPluginOptions(authType: string | undefined): Set<string> {
  if (!authType) return new Set(LEGACY_PLUGIN_OPTIONS);
  return new Set(['auth_type', ...(PLUGIN_OPTIONS[authType.trim().toLowerCase()] ?? KEYSTONEAUTH_OPTIONS)]);
}

/** keystoneauth's deprecated names, read as today's. */
const ALIASES: Record<string, string> = { auth_plugin: 'auth_type', endpoint_override: 'identity_uri' };

export interface LoadedConfig {
  options: AuthTokenOptions;
  /**
   * Names present in the section that this library does not use (pool tuning, session tuning), and names found in
   * the auth_section that are not the auth plugin's, as `[section] name`.
   */
  ignored: string[];
  /** The section the options came from. */
  section: string;
}

/**
 * Parses INI text (oslo.config / paste.deploy style) into sections of raw string values. Linear in the text:
 * each line is scanned with indexOf and trim, never with a backtracking pattern (a 5 MB line of spaces without
 * `=` took hours with the former regular expression).
 */
export function parseIni(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  let lastKey: string | undefined;
  text.split(/\r?\n/).forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed[0] === '#' || trimmed[0] === ';') return;
    if (line[0] === '[') {
      const close = line.indexOf(']');
      if (close > 1 && line.slice(close + 1).trim() === '') {
        const name = line.slice(1, close).trim();
        current = sections.get(name) ?? new Map();
        sections.set(name, current);
        lastKey = undefined;
        return;
      }
    }
    if ((line[0] === ' ' || line[0] === '\t') && current && lastKey) {
      current.set(lastKey, `${current.get(lastKey)}\n${trimmed}`); // continuation line
      return;
    }
    const equals = line.indexOf('=');
    const colon = line.indexOf(':');
    const separator = equals < 0 ? colon : colon < 0 ? equals : Math.min(equals, colon);
    const key = separator > 0 ? line.slice(0, separator).trim() : '';
    if (key === '' || !current) throw new ConfigError('ERR_CONFIG', `line ${index + 1} is neither a [section] nor a key = value pair`);
    lastKey = key;
    current.set(key, line.slice(separator + 1).trim());
  });
  return sections;
}

/**
 * Reads keystone_authtoken options from an INI file: a service's `[keystone_authtoken]` section, or a paste
 * `[filter:authtoken]` section (tried when the named section is absent).
 */
export function loadConfig(path: string, section = 'keystone_authtoken'): AuthTokenOptions {
  return loadConfigDetailed(path, section).options;
}

export function loadConfigDetailed(path: string, section = 'keystone_authtoken'): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError('ERR_CONFIG', `cannot read config file ${path}: ${(cause as NodeJS.ErrnoException).code ?? cause}`, { cause });
  }
  const sections = parseIni(text);
  const name = sections.has(section) ? section : sections.has('filter:authtoken') ? 'filter:authtoken' : undefined;
  if (!name) throw new ConfigError('ERR_CONFIG', `config file ${path} has no [${section}] section (nor [filter:authtoken])`);
  const options: Record<string, unknown> = {};
  const ignored: string[] = [];
  for (const [key, value] of sections.get(name)!) {
    if (FOREIGN_OPTIONS.has(key)) ignored.push(key);
    else if (key !== 'auth_section') options[ALIASES[key] ?? key] = value;
  }
  // keystoneauth's auth_section: the auth plugin's options live in another section of the same file. Only those
  // are read there, as keystonemiddleware does; anything else (insecure, delay_auth_decision, ...) is named in a
  // warning, never allowed to replace the main section's value.
  const authSection = sections.get(name)!.get('auth_section');
  if (authSection) {
    const entries = sections.get(authSection);
    if (!entries) throw new ConfigError('ERR_CONFIG', `auth_section = ${authSection}, but ${path} has no [${authSection}] section`);
    const allowed = authPluginOptions(entries.get('auth_type') ?? entries.get('auth_plugin'));
    for (const [key, value] of entries) {
      const option = key === 'auth_plugin' ? 'auth_type' : key;
      if (allowed.has(option)) options[option] = value;
      else ignored.push(`[${authSection}] ${key}`);
    }
  }
  if (ignored.length > 0) options.ignoredOptions = ignored;
  return { options: options as AuthTokenOptions, ignored, section: name };
}
