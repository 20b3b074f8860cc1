import { KeystoneAuthError, TokenRejectedError } from '../errors.js';
import type { AdminToken } from '../identity/admin-token.js';
import type { IdentityClient } from '../identity/client.js';
import { checkValidatePermission } from '../identity/validate-permission.js';
import { VersionDiscovery, type ApiVersion } from '../identity/versions.js';
import type { AuthTokenOptions, ResolvedOptions } from '../options.js';
import type { Identity } from '../token/access-info.js';
import { tokenLogId } from '../token/hash.js';
import { OnlineValidator } from '../validators/online.js';
import type { Checklist } from './checks.js';

const CREDENTIALS = 'service credentials';
const CREDENTIALS_FIX = 'check username (or user_id), password, user_domain_name/user_domain_id, project_name, project_domain_name/project_domain_id (or the application credential), and that the user is enabled';

/** Where the identity endpoint comes from, for messages: never "identity_uri undefined". */
export function endpointSource(input: AuthTokenOptions, options: ResolvedOptions): string {
  if (input.identity_uri) return `${options.identityUri} (identity_uri)`;
  if (options.identityUri && ['auth_host', 'auth_port', 'auth_protocol', 'auth_admin_prefix'].some((name) => name in input)) return `${options.identityUri} (auth_host/auth_port/auth_protocol)`;
  if (options.identityUri) return `${options.identityUri} (auth_uri)`;
  const authUrl = options.credentials?.kind === 'keystoneauth' ? options.credentials.authUrl : '?';
  return `from the service catalog of the service user's token (authenticated at auth_url ${authUrl}; interface ${options.interface}, ${options.regionName ? `region_name ${options.regionName}` : 'any region (region_name unset)'})`;
}

/**
 * With keystoneauth options and no identity_uri, the service user authenticates at auth_url first, and the
 * identity endpoint is read from its token's catalog: a refused password is a credentials problem, an
 * unreachable auth_url a network one, a catalog without the endpoint a catalog one; each is filed as such.
 */
export async function checkCatalogEndpoint(list: Checklist, client: IdentityClient, adminToken: AdminToken, options: ResolvedOptions): Promise<boolean> {
  const authUrl = options.credentials?.kind === 'keystoneauth' ? options.credentials.authUrl : '';
  try {
    await adminToken.get();
    list.ok(CREDENTIALS, 'authentication', `a token was issued for ${adminToken.describe}`);
  } catch (error) {
    const e = error as KeystoneAuthError;
    if (e.code === 'ERR_IDENTITY_AUTH') list.fail(CREDENTIALS, 'authentication', e.message, CREDENTIALS_FIX);
    else if (/catalog/.test(e.message)) list.fail(CREDENTIALS, 'identity endpoint in the catalog', e.message, `set interface and region_name to match the identity service's endpoints (openstack endpoint list --service identity), or set identity_uri`);
    else list.fail(CREDENTIALS, 'auth_url reachable', e.message, `check auth_url (${authUrl}), DNS, firewalls and that the identity server runs`);
    return false;
  }
  return true;
}

/** The service user's token, then whether it may validate others' tokens (what every online request needs). */
export async function checkServiceUser(list: Checklist, client: IdentityClient, adminToken: AdminToken, options: ResolvedOptions, version: ApiVersion): Promise<string | undefined> {
  let admin: string;
  try {
    admin = await adminToken.get();
    if (!list.checks.some((check) => check.group === CREDENTIALS && check.name === 'authentication')) {
      list.ok(CREDENTIALS, 'authentication', options.credentials?.kind === 'admin_token' ? 'admin_token given' : `a token was issued for ${adminToken.describe}`);
    }
  } catch (error) {
    const e = error as KeystoneAuthError;
    list.fail(CREDENTIALS, 'authentication', e.message, e.code === 'ERR_IDENTITY_AUTH' ? CREDENTIALS_FIX : 'check the identity server (see above)');
    return undefined;
  }
  if (version !== 'v3' || adminToken.isStatic) {
    list.skip(CREDENTIALS, 'may validate tokens', version !== 'v3' ? 'Identity API v2.0: not checked' : 'admin_token: Keystone lets it do anything');
    return admin;
  }
  try {
    const permission = await checkValidatePermission(client, admin);
    const who = `user ${permission.user}, ${permission.scope}, roles ${permission.roles.join(', ') || '(none)'}`;
    if (permission.allowed) list.ok(CREDENTIALS, 'may validate tokens', `${who}: ${permission.evidence}`);
    else {
      const project = permission.scope.startsWith('project ') ? ` --project ${permission.scope.slice('project '.length)}` : '';
      list.fail(CREDENTIALS, 'may validate tokens', `${who}: ${permission.evidence}. Keystone's identity:validate_token needs the service or admin role: every online token would get 503 ERR_IDENTITY_AUTH`, `openstack role add --user ${permission.user}${project} service`);
    }
  } catch (error) {
    list.fail(CREDENTIALS, 'may validate tokens', (error as Error).message);
  }
  return admin;
}

function describeIdentity(identity: Identity): string {
  const user = `${identity.user.name ?? '?'} (${identity.user.id})${identity.user.domain ? ` in domain ${identity.user.domain.name ?? identity.user.domain.id}` : ''}`;
  const scope = identity.project
    ? `project ${identity.project.name ?? '?'} (${identity.project.id})`
    : identity.domain ? `domain ${identity.domain.name ?? identity.domain.id}` : identity.system ? 'system' : 'unscoped';
  return `user ${user}, ${scope}, roles ${identity.roles.join(', ') || '-'}, expires ${identity.expiresAt.toISOString()}`;
}

/** An online token (Fernet, JWS, UUID), validated as the middleware does: GET /v3/auth/tokens with the service user's token. */
export async function checkOnlineToken(list: Checklist, token: string, client: IdentityClient, adminToken: AdminToken | undefined, version: ApiVersion | undefined): Promise<void> {
  const group = 'token';
  if (!adminToken || !version) {
    list.fail(group, 'verdict', `an online token (${tokenLogId(token)}) can only be validated by the identity server, with service credentials: ${adminToken ? 'the identity server is unusable (see above)' : 'none are configured'}`);
    return;
  }
  const validator = new OnlineValidator({ client, versions: new VersionDiscovery(client, version), adminToken, includeCatalog: true, counters: { onlineValidations: 0 } });
  try {
    const { identity } = await validator.validate(token, [], { allowExpired: false });
    if (identity.expiresAt.getTime() <= Date.now()) {
      list.fail(group, 'verdict', `REFUSED (ERR_TOKEN_EXPIRED): expired at ${identity.expiresAt.toISOString()}`);
      return;
    }
    list.ok(group, 'verdict', `VALID (validated online by the identity server): ${describeIdentity(identity)}; ${identity.catalog?.length ?? 0} catalog service(s)`);
  } catch (error) {
    const e = error as KeystoneAuthError;
    if (error instanceof TokenRejectedError) list.fail(group, 'verdict', `REFUSED (${e.code}): ${e.message}`);
    else list.fail(group, 'verdict', `UNDECIDED (${e.code ?? 'error'}): ${e.message}`, e.code === 'ERR_IDENTITY_AUTH' ? 'give the service user the service role (see "may validate tokens" above)' : undefined);
  }
}
