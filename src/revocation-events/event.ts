import type { Identity } from '../token/access-info.js';

/**
 * One Keystone revocation event (GET /v3/OS-REVOKE/events), as keystone/models/revoke_model.py's
 * RevokeEvent.to_dict() writes it. Every field it sets must match a token for the token to be revoked, and the
 * token must have been issued no later than `issuedBeforeS` (whole seconds, as Keystone stores them).
 */
export interface RevocationEvent {
  /** A stable key of the event's content: the same event read by two overlapping polls is held once. */
  key: string;
  userId?: string;
  projectId?: string;
  /** Matched against the token's first audit id (its own). */
  auditId?: string;
  /** Matched against the token's second audit id (the chain's first token), as keystone's audit_chain_id. */
  auditChainId?: string;
  trustId?: string;
  consumerId?: string;
  /** All tokens of a domain: matched against the user's domain and the scope's (project's domain or domain). */
  domainId?: string;
  /** A domain-scoped token (an event with domain_id and expires_at): matched against the scope's domain. */
  domainScopeId?: string;
  roleId?: string;
  /** Whole seconds since the epoch: a token whose expiry (truncated to the second) is this. */
  expiresAtS?: number;
  issuedBeforeS: number;
  revokedAtS: number;
}

/** What of a token revocation events are matched against (keystone's build_token_values). */
export interface RevocationSubject {
  userId: string;
  projectId: string | undefined;
  auditId: string | undefined;
  auditChainId: string | undefined;
  trustId: string | undefined;
  trustorId: string | undefined;
  trusteeId: string | undefined;
  consumerId: string | undefined;
  /** The user's domain (keystone's identity_domain_id). */
  identityDomainId: string | undefined;
  /** The project's domain, or the domain of a domain-scoped token (keystone's assignment_domain_id). */
  assignmentDomainId: string | undefined;
  roleIds: readonly string[];
  expiresAtS: number;
  /** Whole seconds; a token body without issued_at counts as issued at 0 (every matching event revokes it). */
  issuedAtS: number;
}

type Json = Record<string, unknown>;

function field(object: unknown, key: string): unknown {
  return object !== null && typeof object === 'object' && !Array.isArray(object) && Object.hasOwn(object, key) ? (object as Json)[key] : undefined;
}

function id(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function seconds(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const parsed = Date.parse(value.endsWith('Z') || /[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
  return Number.isNaN(parsed) ? undefined : Math.floor(parsed / 1000);
}

const ID_FIELDS = [
  ['user_id', 'userId'],
  ['project_id', 'projectId'],
  ['audit_id', 'auditId'],
  ['audit_chain_id', 'auditChainId'],
  ['OS-TRUST:trust_id', 'trustId'],
  ['OS-OAUTH1:consumer_id', 'consumerId'],
  ['domain_id', 'domainId'],
  ['domain_scope_id', 'domainScopeId'],
  ['role_id', 'roleId'],
] as const;

/**
 * An event of Keystone's answer, or undefined when it cannot be read (no issued_before / revoked_at). Fields
 * keystone does not match on (OS-OAUTH1:access_token_id) are left out, as keystone's matches() leaves them.
 */
export function readEvent(raw: unknown): RevocationEvent | undefined {
  const revokedAtS = seconds(field(raw, 'revoked_at'));
  const issuedBeforeS = seconds(field(raw, 'issued_before')) ?? revokedAtS;
  if (revokedAtS === undefined || issuedBeforeS === undefined) return undefined;
  const event: RevocationEvent = { key: '', issuedBeforeS, revokedAtS };
  const parts: string[] = [];
  for (const [name, property] of ID_FIELDS) {
    const value = id(field(raw, name));
    if (value === undefined) continue;
    event[property] = value;
    parts.push(`${name}=${value}`);
  }
  const expiresAtS = seconds(field(raw, 'expires_at'));
  if (expiresAtS !== undefined) {
    event.expiresAtS = expiresAtS;
    parts.push(`expires_at=${expiresAtS}`);
  }
  parts.push(`issued_before=${issuedBeforeS}`);
  event.key = parts.join('&');
  return event;
}

/** The values of a token events are matched against, from its identity (v3 and v2.0 bodies). */
export function revocationSubject(identity: Identity): RevocationSubject {
  const token = field(identity.body, 'token') ?? field(field(identity.body, 'access'), 'token');
  const trust = field(token, 'OS-TRUST:trust') ?? field(field(identity.body, 'access'), 'trust');
  const oauth = field(token, 'OS-OAUTH1');
  return {
    userId: identity.user.id,
    projectId: identity.project?.id,
    auditId: identity.auditIds[0],
    auditChainId: identity.auditIds[1],
    trustId: id(field(trust, 'id')),
    trustorId: id(field(field(trust, 'trustor_user'), 'id')) ?? id(field(trust, 'trustor_id')),
    trusteeId: id(field(field(trust, 'trustee_user'), 'id')) ?? id(field(trust, 'trustee_user_id')),
    consumerId: id(field(oauth, 'consumer_id')),
    identityDomainId: identity.user.domain?.id,
    assignmentDomainId: identity.project ? identity.project.domain?.id : identity.domain?.id,
    roleIds: identity.roleIds,
    expiresAtS: Math.floor(identity.expiresAt.getTime() / 1000),
    issuedAtS: identity.issuedAt ? Math.floor(identity.issuedAt.getTime() / 1000) : 0,
  };
}

/**
 * keystone's rule (revoke/backends/sql.py _list_token_events, then models/revoke_model.py matches): the event was
 * issued at or after the token (`issued_before >= issued_at`) and every field it sets matches: user_id the user,
 * a trust's trustor or trustee; project_id; audit_id the token's own audit id; audit_chain_id the chain's; trust,
 * consumer and role ids; domain_id the user's or the scope's domain; expires_at the token's expiry second.
 */
export function revokes(event: RevocationEvent, token: RevocationSubject): boolean {
  if (event.issuedBeforeS < token.issuedAtS) return false;
  if (event.userId !== undefined && event.userId !== token.userId && event.userId !== token.trustorId && event.userId !== token.trusteeId) return false;
  if (event.projectId !== undefined && event.projectId !== token.projectId) return false;
  if (event.auditId !== undefined && event.auditId !== token.auditId) return false;
  if (event.auditChainId !== undefined && event.auditChainId !== token.auditChainId) return false;
  if (event.trustId !== undefined && event.trustId !== token.trustId) return false;
  if (event.consumerId !== undefined && event.consumerId !== token.consumerId) return false;
  if (event.domainId !== undefined && event.domainId !== token.identityDomainId && event.domainId !== token.assignmentDomainId) return false;
  if (event.domainScopeId !== undefined && event.domainScopeId !== token.assignmentDomainId) return false;
  if (event.expiresAtS !== undefined && event.expiresAtS !== token.expiresAtS) return false;
  if (event.roleId !== undefined && !token.roleIds.includes(event.roleId)) return false;
  return true;
}

/** The fields an event set, for messages and logs (ids only, never a token). */
export function describeEvent(event: RevocationEvent): string {
  return event.key;
}
