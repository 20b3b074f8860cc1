import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
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

/** keystoneauth's deprecated names, read as today's. */
const ALIASES: Record<string, string> = { auth_plugin: 'auth_type', endpoint_override: 'identity_uri' };

export interface LoadedConfig {
  options: AuthTokenOptions;
  /** Names present in the section that this library does not use (keystoneauth plugin options, pool tuning). */
  ignored: string[];
  /** The section the options came from. */
  section: string;
}

/** Parses INI text (oslo.config / paste.deploy style) into sections of raw string values. */
export function parseIni(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  let lastKey: string | undefined;
  text.split(/\r?\n/).forEach((line, index) => {
    if (/^\s*([#;].*)?$/.test(line)) return;
    const header = /^\[([^\]]+)\]\s*$/.exec(line);
    if (header) {
      current = sections.get(header[1]!.trim()) ?? new Map();
      sections.set(header[1]!.trim(), current);
      lastKey = undefined;
      return;
    }
    if (/^\s/.test(line) && current && lastKey) {
      current.set(lastKey, `${current.get(lastKey)}\n${line.trim()}`); // continuation line
      return;
    }
    const pair = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (!pair || !current) throw new ConfigError('ERR_CONFIG', `line ${index + 1} is neither a [section] nor a key = value pair`);
    lastKey = pair[1]!.trim();
    current.set(lastKey, pair[2]!.trim());
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
  const read = (entries: Map<string, string>) => {
    for (const [key, value] of entries) {
      if (FOREIGN_OPTIONS.has(key)) ignored.push(key);
      else if (key !== 'auth_section') options[ALIASES[key] ?? key] = value;
    }
  };
  read(sections.get(name)!);
  // keystoneauth's auth_section: the plugin options live in another section of the same file.
  const authSection = sections.get(name)!.get('auth_section');
  if (authSection) {
    const entries = sections.get(authSection);
    if (!entries) throw new ConfigError('ERR_CONFIG', `auth_section = ${authSection}, but ${path} has no [${authSection}] section`);
    read(entries);
  }
  if (ignored.length > 0) options.ignoredOptions = ignored;
  return { options: options as AuthTokenOptions, ignored, section: name };
}
