import { TokenRejectedError } from '../errors.js';
import type { Identity } from './access-info.js';

/**
 * keystonemiddleware's _path_matches: `{name}` and `*` match one path segment, `**` any run of characters,
 * anything else itself; the whole path must match. Literal characters are matched literally here (Python puts
 * them into a regular expression unescaped, so a "." there matches any character: deliberately stricter).
 */
export function pathMatches(path: string, pattern: string): boolean {
  let regex = '';
  for (const match of pattern.matchAll(/(\{[^}]*\})|(\*(?=$|[^*]))|(\*\*)|([^{}*])/g)) {
    if (match[1] || match[2]) regex += '[^/]+';
    else if (match[3]) regex += '.*';
    else if (match[4]) regex += match[4].replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${regex}$`, 's').test(path);
}

/**
 * The application credential access rules of a v3 token, enforced on the request as keystonemiddleware's
 * validate_allowed_request does: without service_type configured, or with a service_type missing from the
 * token's catalog, a token with access rules is refused; a request carrying X-Service-Token is allowed (a chain
 * of service requests); otherwise one rule must name this service, the method and a matching path. Tokens
 * without access rules are unrestricted. A GET of /v3/auth/tokens on the identity service is always allowed.
 */
export function checkAccessRules(identity: Identity, request: { method?: string; path?: string; serviceType?: string; hasServiceToken: boolean }): void {
  const rules = identity.accessRules;
  if (identity.version !== 'v3' || rules === undefined) return;
  const refuse = (why: string) => {
    throw new TokenRejectedError('ERR_ACCESS_RULES', `token of an application credential with access rules: ${why}`);
  };
  const { method = 'GET', path = '/', serviceType } = request;
  if (!serviceType) refuse('service_type is not configured, so the rules cannot be checked; set service_type in [keystone_authtoken]');
  if (serviceType === 'identity' && method === 'GET' && path.endsWith('/v3/auth/tokens')) return;
  const catalog = (identity.body as { token?: { catalog?: { type?: unknown }[] } }).token?.catalog;
  if (Array.isArray(catalog) && !catalog.some((service) => service?.type === serviceType)) refuse(`service_type ${serviceType} is not a service type of the token's catalog`);
  if (request.hasServiceToken) return;
  if (rules.some((rule) => rule.method === method && rule.service === serviceType && pathMatches(path, rule.path))) return;
  refuse(`no rule allows ${method} ${path} on ${serviceType}`);
}
