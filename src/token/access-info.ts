import { TokenRejectedError } from '../errors.js';
import { catalogMemo } from './catalog-memo.js';

/** A name and id pair, as Keystone gives users, projects and domains. */
export interface NamedRef {
  id: string;
  name: string | undefined;
}

export interface ScopedRef extends NamedRef {
  domain: NamedRef | undefined;
}

/** The identity a validated token carries: what `req.keystone` holds. */
export interface Identity {
  /** Identity API version of the token body. */
  version: 'v2.0' | 'v3';
  user: ScopedRef;
  /** The project (tenant) the token is scoped to, if any. */
  project: ScopedRef | undefined;
  /** The domain a domain-scoped v3 token is scoped to. */
  domain: NamedRef | undefined;
  /** Role names. */
  roles: readonly string[];
  roleIds: readonly string[];
  expiresAt: Date;
  issuedAt: Date | undefined;
  auditIds: readonly string[];
  /** Service catalog in the v2 shape (v3 catalogs converted), if the token has one. */
  catalog: readonly unknown[] | undefined;
  /** Token binding information, if any. */
  bind: Record<string, unknown> | undefined;
  isAdminProject: boolean;
  /** A system-scoped v3 token's scope (e.g. { all: true }). */
  system: Record<string, unknown> | undefined;
  /** The access rules of a token made from an application credential that has them (undefined: unrestricted). */
  accessRules: readonly AccessRule[] | undefined;
  /** The whole token body as the identity server signed or served it. */
  body: unknown;
}

/** An application credential access rule: which requests the token may make (keystonemiddleware enforces them). */
export interface AccessRule {
  service: string;
  method: string;
  path: string;
}

type Json = Record<string, unknown>;

function own(object: unknown, key: string): unknown {
  return object !== null && typeof object === 'object' && !Array.isArray(object) && Object.hasOwn(object, key)
    ? (object as Json)[key]
    : undefined;
}

function text(object: unknown, key: string): string | undefined {
  const value = own(object, key);
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

function required(object: unknown, key: string, what: string): string {
  const value = text(object, key);
  if (!value) throw new TokenRejectedError('ERR_TOKEN_INVALID', `token body has no ${what}`);
  return value;
}

function ref(object: unknown): NamedRef | undefined {
  const id = text(object, 'id');
  return id === undefined ? undefined : { id, name: text(object, 'name') };
}

function date(value: unknown, what: string): Date {
  const parsed = typeof value === 'string' ? Date.parse(value.endsWith('Z') || /[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`) : NaN;
  if (Number.isNaN(parsed)) throw new TokenRejectedError('ERR_TOKEN_INVALID', `token body has no valid ${what}`);
  return new Date(parsed);
}

function strings(list: unknown, key: string): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((item) => text(item, key)).filter((value): value is string => value !== undefined);
}

/** The strings of a JSON array (anything else in it is skipped), or [] when it is not an array. */
function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function optionalDate(value: unknown, what: string): Date | undefined {
  return value === undefined ? undefined : date(value, what);
}

function record(value: unknown): Record<string, unknown> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return Object.fromEntries(Object.entries(value as Json));
}

/** Reads a v2.0 ({"access": …}) or v3 ({"token": …}) token body. Malformed bodies are ERR_TOKEN_INVALID. */
export function readIdentity(body: unknown): Identity {
  const access = own(body, 'access');
  if (access !== undefined) return deepFreeze(readV2(body, access));
  const token = own(body, 'token');
  if (token !== undefined) return deepFreeze(readV3(body, token));
  throw new TokenRejectedError('ERR_TOKEN_INVALID', 'token body is neither a v2.0 ("access") nor a v3 ("token") body');
}

/**
 * Identities are cached and handed to every request with the same token: frozen, with the body and every
 * nested object and array, so that code downstream cannot change what the next request sees.
 */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    // Without Object.keys' array per object: JSON.parse gives plain objects and arrays, nothing inherited.
    if (Array.isArray(value)) for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
    else for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

const DEFAULT_DOMAIN: NamedRef = Object.freeze({ id: 'default', name: 'Default' });

function readV2(body: unknown, access: unknown): Identity {
  const token = own(access, 'token');
  const user = own(access, 'user');
  const tenant = own(token, 'tenant');
  const project = ref(tenant);
  const metadata = own(access, 'metadata');
  const catalog = own(access, 'serviceCatalog');
  return {
    version: 'v2.0',
    user: { id: required(user, 'id', 'user id'), name: text(user, 'name') ?? text(user, 'username'), domain: DEFAULT_DOMAIN },
    project: project && { ...project, domain: DEFAULT_DOMAIN },
    domain: undefined,
    roles: strings(own(user, 'roles'), 'name'),
    roleIds: stringArray(own(metadata, 'roles')),
    expiresAt: date(own(token, 'expires'), 'expiry (access.token.expires)'),
    issuedAt: optionalDate(own(token, 'issued_at'), 'issued_at'),
    auditIds: stringArray(own(token, 'audit_ids')),
    catalog: Array.isArray(catalog) ? catalog : undefined,
    bind: record(own(token, 'bind')),
    isAdminProject: true,
    system: undefined,
    accessRules: undefined,
    body,
  };
}

function readV3(body: unknown, token: unknown): Identity {
  const user = own(token, 'user');
  const project = own(token, 'project');
  const projectRef = ref(project);
  const catalog = own(token, 'catalog');
  const isAdminProject = own(token, 'is_admin_project');
  return {
    version: 'v3',
    user: { id: required(user, 'id', 'user id'), name: text(user, 'name'), domain: ref(own(user, 'domain')) },
    project: projectRef && { ...projectRef, domain: ref(own(project, 'domain')) },
    domain: ref(own(token, 'domain')),
    roles: strings(own(token, 'roles'), 'name'),
    roleIds: strings(own(token, 'roles'), 'id'),
    expiresAt: date(own(token, 'expires_at'), 'expiry (token.expires_at)'),
    issuedAt: optionalDate(own(token, 'issued_at'), 'issued_at'),
    auditIds: stringArray(own(token, 'audit_ids')),
    catalog: Array.isArray(catalog) ? v2CatalogOf(token as Json, catalog) : undefined,
    bind: record(own(token, 'bind')),
    isAdminProject: typeof isAdminProject === 'boolean' ? isAdminProject : true,
    system: record(own(token, 'system')),
    accessRules: accessRules(own(own(token, 'application_credential'), 'access_rules')),
    body,
  };
}

function accessRules(value: unknown): AccessRule[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new TokenRejectedError('ERR_TOKEN_INVALID', 'token application_credential.access_rules is not a list');
  return value.map((rule) => ({ service: text(rule, 'service') ?? '', method: text(rule, 'method') ?? '', path: text(rule, 'path') ?? '' }));
}

/**
 * The v2 form of a v3 token's catalog, deep-frozen. A catalog that is the same JSON as the last one read is not
 * converted again: the token's body takes the kept frozen copy in place of its own (see CatalogMemo).
 */
function v2CatalogOf(token: Json, catalog: unknown[]): readonly unknown[] {
  const known = catalogMemo.recall(catalog);
  if (known) {
    Reflect.set(token, 'catalog', known.v3); // a body already frozen keeps its own (equal) catalog
    return known.v2;
  }
  const v2 = deepFreeze(v3CatalogToV2(catalog));
  catalogMemo.remember(deepFreeze(catalog), v2);
  return v2;
}

/** keystonemiddleware's conversion of a v3 catalog to the v2 shape used in X-Service-Catalog. */
export function v3CatalogToV2(catalog: unknown[]): unknown[] {
  const v2Catalog: unknown[] = [];
  for (let s = 0; s < catalog.length; s++) {
    const service = catalog[s];
    const v2: Json = {};
    const type = text(service, 'type');
    const name = text(service, 'name');
    if (type !== undefined) v2.type = type;
    if (name !== undefined) v2.name = name;
    // One entry per region, keyed by the region name in the order first seen, as keystonemiddleware does; no
    // "region" key when the endpoint names none. A catalog has a region or two: found by a scan of the few seen,
    // a map past REGIONS_SCANNED (no quadratic search in a catalog of many regions).
    const regions: string[] = [];
    const entries: Json[] = [];
    let index: Map<string, number> | undefined;
    const endpoints = own(service, 'endpoints');
    if (Array.isArray(endpoints)) {
      for (let e = 0; e < endpoints.length; e++) {
        const endpoint: unknown = endpoints[e];
        const region = text(endpoint, 'region') ?? '';
        let at = index ? (index.get(region) ?? -1) : regions.indexOf(region);
        if (at < 0) {
          at = regions.push(region) - 1;
          entries.push(region ? { region } : {});
          if (index) index.set(region, at);
          else if (regions.length > REGIONS_SCANNED) index = new Map(regions.map((r, i) => [r, i]));
        }
        const iface = text(endpoint, 'interface');
        const url = text(endpoint, 'url');
        if (iface && url) entries[at]![`${iface.toLowerCase()}URL`] = url;
      }
    }
    v2.endpoints = entries;
    v2Catalog.push(v2);
  }
  return v2Catalog;
}

const REGIONS_SCANNED = 8;
