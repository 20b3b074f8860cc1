import type { KeystoneAuthError, RequestPathError } from '../errors.js';
import type { Decision } from '../protocol.js';
import type { Identity } from '../token/access-info.js';

/** What the middleware puts on the request (`req.keystone`, `ctx.state.keystone`, ...) for a confirmed request. */
export interface KeystoneContext extends Identity {
  /** The validated X-Service-Token identity, if one was sent. */
  service: Identity | undefined;
}

/** The answer to a refused request, for any framework: status, headers and JSON body. */
export interface Refusal {
  status: 400 | 401 | 503;
  headers: Record<string, string>;
  body: string;
  error: KeystoneAuthError;
}

/**
 * The 401 (with WWW-Authenticate, double-quoted as keystonemiddleware writes it) or 503 (with Retry-After) for a
 * refused decision. `exposeReason`: the error code as `reason` in the body (default); false keeps it out of what
 * clients see (it is still logged and on the error).
 */
export function refusalOf(decision: Exclude<Decision, { status: 'confirmed' }>, wwwAuthenticateUri: string, exposeReason: boolean): Refusal {
  const status = decision.status === 'unavailable' ? 503 : 401;
  const error = decision.error;
  const body = JSON.stringify({
    error: {
      code: status,
      title: status === 401 ? 'Unauthorized' : 'Service Unavailable',
      message: status === 401 ? 'The request you have made requires authentication.' : error.code === 'ERR_IDENTITY_AUTH' && exposeReason ? 'The service cannot validate tokens: the identity service refuses its own credentials.' : 'The identity service is temporarily unavailable.',
      ...(exposeReason ? { reason: error.code } : {}),
    },
  });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (status === 401) headers['www-authenticate'] = wwwAuthenticate(wwwAuthenticateUri);
  else headers['retry-after'] = String((error as { retryAfterSeconds?: number }).retryAfterSeconds ?? 5);
  return { status, headers, body, error };
}

/**
 * The 400 for a request-target not in normal form (ERR_REQUEST_PATH): given before `unless` and whatever
 * delay_auth_decision says, since the path the application would route is unknown.
 */
export function pathRefusal(error: RequestPathError, exposeReason: boolean): Refusal {
  const body = JSON.stringify({
    error: {
      code: 400,
      title: 'Bad Request',
      message: 'The request path is not in normal form (fragment, dot segment, backslash, empty segment or not origin-form).',
      ...(exposeReason ? { reason: error.code } : {}),
    },
  });
  return { status: 400, headers: { 'content-type': 'application/json' }, body, error };
}

/** `Keystone uri="..."` (RFC 7235 quoted-string; upstream bug 1762362). */
export function wwwAuthenticate(uri: string): string {
  return `Keystone uri="${uri.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * req.keystone: a fresh object per request (an app may add to its own), over the cached identity, whose objects
 * and arrays are frozen; its Dates are copies, since a Date cannot be frozen.
 */
export function keystoneContext(identity: Identity, service: Identity | undefined): KeystoneContext {
  const context = identityView(identity) as KeystoneContext;
  context.service = service && identityView(service);
  return context;
}

/** One fixed shape (faster to build than a spread of the cached object). */
function identityView(identity: Identity): Identity {
  return {
    version: identity.version,
    user: identity.user,
    project: identity.project,
    domain: identity.domain,
    roles: identity.roles,
    roleIds: identity.roleIds,
    expiresAt: new Date(identity.expiresAt.getTime()),
    issuedAt: identity.issuedAt && new Date(identity.issuedAt.getTime()),
    auditIds: identity.auditIds,
    catalog: identity.catalog,
    bind: identity.bind,
    isAdminProject: identity.isAdminProject,
    system: identity.system,
    accessRules: identity.accessRules,
    body: identity.body,
  };
}
