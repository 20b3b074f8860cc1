import type { Identity } from './access-info.js';
import { catalogMemo } from './catalog-memo.js';

/** Headers describing the user token's identity. */
export const USER_HEADERS = [
  'x-identity-status', 'x-domain-id', 'x-domain-name', 'x-project-id', 'x-project-name', 'x-project-domain-id',
  'x-project-domain-name', 'x-user-id', 'x-user-name', 'x-user-domain-id', 'x-user-domain-name', 'x-roles',
  'x-service-catalog', 'x-is-admin-project',
  // deprecated, still set for old services
  'x-user', 'x-tenant-id', 'x-tenant-name', 'x-tenant', 'x-role',
] as const;

/** Headers describing the service token's identity. */
export const SERVICE_HEADERS = [
  'x-service-identity-status', 'x-service-domain-id', 'x-service-domain-name', 'x-service-project-id',
  'x-service-project-name', 'x-service-project-domain-id', 'x-service-project-domain-name', 'x-service-user-id',
  'x-service-user-name', 'x-service-user-domain-id', 'x-service-user-domain-name', 'x-service-roles',
] as const;

/**
 * Every header a client could forge; stripped from each request before anything else (also in spellings with
 * "_" for "-"). OpenStack-System-Scope is keystonemiddleware's for system-scoped tokens.
 */
export const FORGEABLE_HEADERS: readonly string[] = [...USER_HEADERS, ...SERVICE_HEADERS, 'openstack-system-scope', 'x-service-is-admin-project'];

/**
 * A header value safe to hand on: control characters (CR, LF, NUL, …) are percent-encoded so that no identity
 * value can split or forge a header, here or in a proxy downstream.
 */
export function safeHeaderValue(value: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(value) ? value.replace(/[\u0000-\u001f\u007f%]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`) : value;
}

/**
 * The catalog as JSON in ASCII: every character from DEL up written as a \uXXXX escape, as Python's
 * json.dumps (ensure_ascii) writes it for keystonemiddleware, so a service or region name in any script reaches
 * every framework (a Web Headers value is a byte string) and JSON.parse gives it back exactly. JSON.stringify
 * already escapes every control character below U+0020, so nothing else can split the header.
 */
function catalogHeader(json: string): string {
  return isAsciiBelowDel(json) ? json : json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * True when every character is below DEL (what NON_ASCII tests), found without a regular expression: a string
 * whose UTF-8 length is its length has only characters below U+0080 (a catalog header is kilobytes long, and
 * node's byteLength reads it many times faster than a character-class search).
 */
function isAsciiBelowDel(text: string): boolean {
  return Buffer.byteLength(text, 'utf8') === text.length && !text.includes('\u007f');
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\u0000-\u007e]/;

/** X-Service-Catalog for a catalog: written once for the catalog the tokens of a deployment share (CatalogMemo). */
function catalogText(catalog: readonly unknown[]): string {
  const known = catalogMemo.textOf(catalog);
  if (known !== undefined) return known;
  const text = catalogHeader(JSON.stringify(catalog));
  catalogMemo.rememberText(catalog, text);
  return text;
}

/**
 * A value for a Web `Headers` (Hono, Fetch), which holds byte strings only (a character above U+00FF throws,
 * answering 500): a value outside ASCII becomes its UTF-8 bytes, one character per byte, which is what the same
 * header sent over HTTP in UTF-8 reads as through Fetch. `Buffer.from(value, 'latin1').toString('utf8')` (or
 * TextDecoder over the char codes) gives the name back. ASCII values, nearly all, are unchanged.
 */
export function webHeaderValue(value: string): string {
  if (!NON_ASCII.test(value)) return value;
  const bytes = new TextEncoder().encode(value);
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]!);
  return out;
}

function put(headers: Record<string, string>, name: string, value: string | undefined): void {
  if (value !== undefined) headers[name] = safeHeaderValue(value);
}

/** The identity headers of a confirmed user token (keystonemiddleware's names and values). */
export function userHeaders(identity: Identity, includeCatalog: boolean): Record<string, string> {
  const headers: Record<string, string> = { 'x-identity-status': 'Confirmed' };
  const roles = identity.roles.join(',');
  identityHeaders(headers, '', identity, roles);
  headers['x-is-admin-project'] = identity.isAdminProject ? 'True' : 'False';
  // keystonemiddleware: OpenStack-System-Scope: all for a token scoped to the whole system (no header otherwise).
  if (identity.system?.all === true) headers['openstack-system-scope'] = 'all';
  put(headers, 'x-user', identity.user.name);
  put(headers, 'x-tenant-id', identity.project?.id);
  put(headers, 'x-tenant-name', identity.project?.name);
  put(headers, 'x-tenant', identity.project?.name);
  put(headers, 'x-role', roles);
  if (includeCatalog && identity.catalog) headers['x-service-catalog'] = catalogText(identity.catalog);
  return headers;
}

/**
 * The X-Service-* headers of a confirmed service token. keystonemiddleware also writes OpenStack-System-Scope from
 * the service token, over the user's: a project-scoped user's request would then look system-scoped when its
 * service token is. Deliberately not done here: OpenStack-System-Scope always describes the user token.
 */
export function serviceHeaders(identity: Identity): Record<string, string> {
  const headers: Record<string, string> = { 'x-service-identity-status': 'Confirmed' };
  identityHeaders(headers, 'service-', identity, identity.roles.join(','));
  return headers;
}

/** The names identityHeaders writes, for the user's headers and the service token's (built once). */
const NAMES = {
  '': headerNames(''),
  'service-': headerNames('service-'),
};

function headerNames(prefix: string) {
  return {
    domainId: `x-${prefix}domain-id`,
    domainName: `x-${prefix}domain-name`,
    projectId: `x-${prefix}project-id`,
    projectName: `x-${prefix}project-name`,
    projectDomainId: `x-${prefix}project-domain-id`,
    projectDomainName: `x-${prefix}project-domain-name`,
    userId: `x-${prefix}user-id`,
    userName: `x-${prefix}user-name`,
    userDomainId: `x-${prefix}user-domain-id`,
    userDomainName: `x-${prefix}user-domain-name`,
    roles: `x-${prefix}roles`,
  };
}

function identityHeaders(headers: Record<string, string>, prefix: '' | 'service-', identity: Identity, roles: string): void {
  const names = NAMES[prefix];
  const { domain, project, user } = identity;
  put(headers, names.domainId, domain?.id);
  put(headers, names.domainName, domain?.name);
  put(headers, names.projectId, project?.id);
  put(headers, names.projectName, project?.name);
  put(headers, names.projectDomainId, project?.domain?.id);
  put(headers, names.projectDomainName, project?.domain?.name);
  put(headers, names.userId, user.id);
  put(headers, names.userName, user.name);
  put(headers, names.userDomainId, user.domain?.id);
  put(headers, names.userDomainName, user.domain?.name);
  put(headers, names.roles, roles);
}
