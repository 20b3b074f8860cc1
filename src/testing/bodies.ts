import { randomBytes, randomUUID } from 'node:crypto';

/** What a minted token says about its holder. */
export interface TokenSpec {
  user?: string;
  userId?: string;
  project?: string;
  projectId?: string;
  /** A domain-scoped v3 token instead of a project-scoped one. */
  domain?: string;
  roles?: string[];
  /** Seconds until expiry; negative for an already expired token. Default 3600. */
  expiresIn?: number;
  version?: 'v2.0' | 'v3';
  /** Number of services in the catalog (token size grows with it). Default 2. */
  catalogSize?: number;
  bind?: Record<string, unknown>;
}

/** An audit id as Keystone makes one: urlsafe base64 of 16 random bytes, unpadded (22 characters). */
export function newAuditId(): string {
  return randomBytes(16).toString('base64url');
}

function iso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, '.000000Z');
}

function catalog(size: number, version: 'v2.0' | 'v3'): unknown[] {
  return Array.from({ length: size }, (_, i) => {
    const type = i === 0 ? 'identity' : i === 1 ? 'image' : `service-${i}`;
    const name = i === 0 ? 'keystone' : i === 1 ? 'glance' : `service${i}`;
    const url = (iface: string) => `http://${iface}.example.test:${9000 + i}/v1`;
    if (version === 'v2.0') {
      return { type, name, endpoints: [{ region: 'RegionOne', publicURL: url('public'), internalURL: url('internal'), adminURL: url('admin'), id: `${name}-endpoint` }], endpoints_links: [] };
    }
    return {
      id: `${name}-service-id`, type, name,
      endpoints: ['public', 'internal', 'admin'].map((iface) => ({ id: `${name}-${iface}`, interface: iface, region: 'RegionOne', region_id: 'RegionOne', url: url(iface) })),
    };
  });
}

/** A Keystone-shaped token body: v3 {"token": …} or v2.0 {"access": …}. */
export function tokenBody(spec: TokenSpec, now = new Date(), id = randomUUID().replace(/-/g, '')): Record<string, unknown> {
  const user = spec.user ?? 'alice';
  const userId = spec.userId ?? `${user}-id`;
  const project = spec.project ?? 'demo';
  const projectId = spec.projectId ?? `${project}-id`;
  const roles = spec.roles ?? ['member'];
  const expires = new Date(now.getTime() + (spec.expiresIn ?? 3600) * 1000);
  const size = spec.catalogSize ?? 2;
  if ((spec.version ?? 'v3') === 'v2.0') {
    return {
      access: {
        token: { id, expires: iso(expires), issued_at: iso(now), tenant: { id: projectId, name: project, enabled: true }, audit_ids: [newAuditId()], ...(spec.bind ? { bind: spec.bind } : {}) },
        serviceCatalog: catalog(size, 'v2.0'),
        user: { id: userId, name: user, username: user, roles: roles.map((name) => ({ name })), roles_links: [] },
        metadata: { is_admin: 0, roles: roles.map((name) => `${name}-role-id`) },
      },
    };
  }
  const scope = spec.domain
    ? { domain: { id: `${spec.domain}-id`, name: spec.domain } }
    : { project: { id: projectId, name: project, domain: { id: 'default', name: 'Default' } } };
  return {
    token: {
      methods: ['password'],
      expires_at: iso(expires),
      issued_at: iso(now),
      audit_ids: [newAuditId()],
      user: { id: userId, name: user, domain: { id: 'default', name: 'Default' }, password_expires_at: null },
      ...scope,
      roles: roles.map((name) => ({ id: `${name}-role-id`, name })),
      catalog: catalog(size, 'v3'),
      ...(spec.bind ? { bind: spec.bind } : {}),
    },
  };
}
