import { ConfigError } from '../errors.js';

/**
 * How the middleware authenticates itself (the service user) to validate tokens and fetch the revocation list:
 * the keystoneauth plugin options current services configure (`auth_type = password`, `auth_url`, `username`,
 * ...), or the legacy `admin_user`/`admin_password`/`admin_tenant_name` (or a fixed `admin_token`).
 */
export type ServiceCredentials =
  | { kind: 'admin_token'; token: string; describe: string }
  | { kind: 'legacy'; user: string; password: string; tenant: string; describe: string }
  | { kind: 'keystoneauth'; authUrl: string; version: 'v3' | 'v2.0'; body: unknown; describe: string };

/** keystoneauth plugin names understood here (compared without case), and the API version each speaks. */
const PLUGINS: Record<string, 'password' | 'v3password' | 'v2password' | 'v3applicationcredential' | 'token' | 'v3token'> = {
  password: 'password', v3password: 'v3password', v2password: 'v2password',
  v3applicationcredential: 'v3applicationcredential', applicationcredential: 'v3applicationcredential',
  token: 'token', v3token: 'v3token',
};

/** The keystoneauth options read from keystone_authtoken (the same names as in Python). */
export const KEYSTONEAUTH_OPTIONS = [
  'auth_type', 'auth_url', 'username', 'user_id', 'password', 'user_domain_id', 'user_domain_name', 'project_id',
  'project_name', 'project_domain_id', 'project_domain_name', 'domain_id', 'domain_name', 'default_domain_id',
  'default_domain_name', 'system_scope', 'trust_id', 'tenant_id', 'tenant_name', 'application_credential_id',
  'application_credential_name', 'application_credential_secret', 'token',
] as const;

type Get = (name: string) => string | undefined;

function domainRef(get: Get, id: string, name: string, what: string): { id: string } | { name: string } | undefined {
  const domainId = get(id) ?? get('default_domain_id');
  const domainName = get(name) ?? get('default_domain_name');
  if (get(id) && get(name)) throw new ConfigError('ERR_CONFIG', `options ${id} and ${name} are both set for the ${what}; set one`);
  return domainId ? { id: domainId } : domainName ? { name: domainName } : undefined;
}

function userRef(get: Get): Record<string, unknown> {
  const id = get('user_id');
  const name = get('username');
  if (id) return { id };
  if (!name) throw new ConfigError('ERR_CONFIG', 'auth_type needs user_id or username (with user_domain_id or user_domain_name)');
  const domain = domainRef(get, 'user_domain_id', 'user_domain_name', 'user');
  if (!domain) throw new ConfigError('ERR_CONFIG', `username ${name} needs user_domain_id or user_domain_name (or default_domain_id); e.g. user_domain_name = Default`);
  return { name, domain };
}

/** The v3 scope the options ask for (project, domain, system or trust), or undefined for an unscoped token. */
function scopeOf(get: Get): Record<string, unknown> | undefined {
  const scopes: Record<string, unknown>[] = [];
  if (get('trust_id')) scopes.push({ 'OS-TRUST:trust': { id: get('trust_id') } });
  if (get('system_scope')) scopes.push({ system: { [get('system_scope')!]: true } });
  const projectId = get('project_id') ?? get('tenant_id');
  const projectName = get('project_name') ?? get('tenant_name');
  if (projectId) scopes.push({ project: { id: projectId } });
  else if (projectName) {
    const domain = domainRef(get, 'project_domain_id', 'project_domain_name', 'project');
    if (!domain) throw new ConfigError('ERR_CONFIG', `project_name ${projectName} needs project_domain_id or project_domain_name (or default_domain_id); e.g. project_domain_name = Default`);
    scopes.push({ project: { name: projectName, domain } });
  }
  if (get('domain_id')) scopes.push({ domain: { id: get('domain_id') } });
  else if (get('domain_name')) scopes.push({ domain: { name: get('domain_name') } });
  if (scopes.length > 1) throw new ConfigError('ERR_CONFIG', 'set one scope for the service user: a project, a domain, system_scope or trust_id');
  return scopes[0];
}

/**
 * The credentials the options describe. `get` reads a keystone_authtoken option as text. Throws ConfigError
 * naming what is missing or contradictory; returns undefined when no credentials are configured at all.
 */
export function resolveCredentials(get: Get): ServiceCredentials | undefined {
  const authType = get('auth_type');
  if (authType) {
    const plugin = PLUGINS[authType.toLowerCase()];
    if (!plugin) {
      throw new ConfigError('ERR_CONFIG', `auth_type ${authType} is not supported; use password, v3password, v3applicationcredential or v3token (keystoneauth plugin names)`);
    }
    const authUrl = get('auth_url');
    if (!authUrl) throw new ConfigError('ERR_CONFIG', `auth_type ${authType} needs auth_url (the identity endpoint to authenticate at, e.g. http://keystone:5000/v3)`);
    let base: string;
    try {
      const url = new URL(authUrl);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
      base = authUrl.replace(/\/+$/, '');
    } catch {
      throw new ConfigError('ERR_CONFIG', `option auth_url must be an http(s) URL, got ${JSON.stringify(authUrl)}`);
    }
    const v2 = plugin === 'v2password' || (plugin === 'password' && /\/v2\.0$/.test(base));
    const root = base.replace(/\/v(2\.0|3)$/, '');
    if (v2) {
      const tenant = get('tenant_name') ?? get('project_name');
      const body = { auth: { passwordCredentials: { username: get('username'), password: get('password') }, ...(tenant ? { tenantName: tenant } : {}) } };
      if (!get('username') || !get('password')) throw new ConfigError('ERR_CONFIG', `auth_type ${authType} (v2.0) needs username and password`);
      return { kind: 'keystoneauth', authUrl: root, version: 'v2.0', body, describe: `${authType} user ${get('username')} at ${root}` };
    }
    let identity: Record<string, unknown>;
    let describe: string;
    if (plugin === 'v3applicationcredential') {
      const secret = get('application_credential_secret');
      if (!secret) throw new ConfigError('ERR_CONFIG', `auth_type ${authType} needs application_credential_secret`);
      const id = get('application_credential_id');
      const name = get('application_credential_name');
      if (!id && !name) throw new ConfigError('ERR_CONFIG', `auth_type ${authType} needs application_credential_id, or application_credential_name with the user`);
      const credential = id ? { id, secret } : { name, secret, user: userRef(get) };
      identity = { methods: ['application_credential'], application_credential: credential };
      describe = `application credential ${id ?? name}`;
      // An application credential carries its own scope.
      return { kind: 'keystoneauth', authUrl: root, version: 'v3', body: { auth: { identity } }, describe: `${describe} at ${root}` };
    }
    if (plugin === 'token' || plugin === 'v3token') {
      const token = get('token');
      if (!token) throw new ConfigError('ERR_CONFIG', `auth_type ${authType} needs token`);
      identity = { methods: ['token'], token: { id: token } };
      describe = 'a token (auth_type token)';
    } else {
      if (!get('password')) throw new ConfigError('ERR_CONFIG', `auth_type ${authType} needs password`);
      identity = { methods: ['password'], password: { user: { ...userRef(get), password: get('password') } } };
      describe = `user ${get('user_id') ?? get('username')}`;
    }
    const scope = scopeOf(get);
    return { kind: 'keystoneauth', authUrl: root, version: 'v3', body: { auth: { identity, ...(scope ? { scope } : {}) } }, describe: `${describe} at ${root}` };
  }
  if (get('admin_token')) return { kind: 'admin_token', token: get('admin_token')!, describe: 'admin_token' };
  const user = get('admin_user');
  if (user) return { kind: 'legacy', user, password: get('admin_password')!, tenant: get('admin_tenant_name') ?? 'admin', describe: `admin_user ${user}` };
  return undefined;
}
