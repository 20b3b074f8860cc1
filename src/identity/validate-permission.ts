import { ConfigError, IdentityServerError } from '../errors.js';
import { parseJsonResponse, type IdentityClient } from './client.js';

/** Whether the service user may validate other users' tokens, and what that was judged from. */
export interface ValidatePermission {
  allowed: boolean;
  /** The service user's name (or id), its scope and roles, as its own token shows them. */
  user: string;
  scope: string;
  roles: string[];
  /** How it was decided, for messages. */
  evidence: string;
}

/** Roles Keystone's default policy lets validate any token (identity:validate_token: admin, service). */
const VALIDATING_ROLES = ['admin', 'service'];

/**
 * Asks Keystone (v3) whether the service user holding `adminToken` can validate other users' tokens, the
 * call every online request depends on. Keystone's `identity:validate_token` is "admin, or (reader and system
 * scope all), or service, or the token's own user": the service user's own token always passes the last rule,
 * so validating it proves nothing. Its body tells the roles (implied roles included); when they match none of
 * the rules, GET /v3/OS-REVOKE/events (policy "service_or_admin", no token-subject escape) confirms a 403
 * before the user is said to lack the role, so that a cloud whose policy grants validation to another role is
 * not refused on a guess.
 */
export async function checkValidatePermission(client: IdentityClient, adminToken: string, now = new Date()): Promise<ValidatePermission> {
  const label = 'GET /v3/auth/tokens (the service user\'s own token: roles)';
  const response = await client.request({ path: '/v3/auth/tokens?nocatalog', headers: { 'x-auth-token': adminToken, 'x-subject-token': adminToken }, label });
  if (response.status !== 200) throw new IdentityServerError(response.status === 401 || response.status === 403 ? 'ERR_IDENTITY_AUTH' : 'ERR_IDENTITY_RESPONSE', `${label} answered ${response.status}`);
  const token = (parseJsonResponse(response, label) as { token?: Record<string, any> }).token ?? {};
  const roles: string[] = Array.isArray(token.roles) ? token.roles.map((role: { name?: unknown }) => String(role?.name)) : [];
  const user = String(token.user?.name ?? token.user?.id ?? '?');
  const scope = token.project ? `project ${token.project.name ?? token.project.id}` : token.domain ? `domain ${token.domain.name ?? token.domain.id}` : token.system ? 'system' : 'unscoped';
  const found = roles.filter((role) => VALIDATING_ROLES.includes(role.toLowerCase()));
  if (found.length > 0) return { allowed: true, user, scope, roles, evidence: `role ${found.join(', ')}` };
  if (token.system?.all === true && roles.some((role) => role.toLowerCase() === 'reader')) return { allowed: true, user, scope, roles, evidence: 'role reader with system scope all' };
  const probePath = `/v3/OS-REVOKE/events?since=${encodeURIComponent(now.toISOString())}`;
  const probe = await client.request({ path: probePath, headers: { 'x-auth-token': adminToken }, label: 'GET /v3/OS-REVOKE/events (service role probe)' });
  if (probe.status === 200) return { allowed: true, user, scope, roles, evidence: 'this cloud\'s policy lets it (GET /v3/OS-REVOKE/events answered 200)' };
  return { allowed: false, user, scope, roles, evidence: `none of admin, service; GET /v3/OS-REVOKE/events answered ${probe.status}` };
}

/** The typed error for a service user that cannot validate tokens, naming the role to grant. */
export function missingRoleError(permission: ValidatePermission, who: string): ConfigError {
  const project = permission.scope.startsWith('project ') ? ` --project ${permission.scope.slice('project '.length)}` : '';
  return new ConfigError(
    'ERR_CONFIG',
    `the service user (${who}) cannot validate tokens: its token (${permission.scope}) carries roles ${permission.roles.join(', ') || '(none)'}, and Keystone's identity:validate_token needs the service or admin role; every online token would get 503 ERR_IDENTITY_AUTH. Grant it: openstack role add --user ${permission.user}${project} service`,
  );
}
