import { revokes, type RevocationEvent, type RevocationSubject } from './event.js';

/** The event fields an event is indexed by, most selective first; an event goes under the first one it sets. */
type IndexedField = 'auditId' | 'userId' | 'projectId' | 'trustId' | 'consumerId' | 'auditChainId' | 'domainId' | 'domainScopeId';
const INDEXED: readonly IndexedField[] = ['auditId', 'userId', 'projectId', 'trustId', 'consumerId', 'auditChainId', 'domainId', 'domainScopeId'];

/**
 * The revocation events held, indexed so that checking a token costs a few map lookups whatever their number:
 * each event sits in one map, under the first identifying field it sets (an event matches a token only when
 * that field does, so looking the token's values up in that field's map finds every event that may match).
 * `generation` moves whenever an event is added: an entry checked at the current generation needs no check.
 */
export class RevocationEventIndex {
  private readonly byKey = new Map<string, RevocationEvent>();
  private readonly maps = new Map<IndexedField, Map<string, RevocationEvent[]>>(INDEXED.map((name) => [name, new Map()]));
  /** Events that set none of the indexed fields (Keystone 22 writes none; matched against every token). */
  private readonly unindexed: RevocationEvent[] = [];
  private generationValue = 0;
  private latestRevokedAt: number | undefined;

  /** Moves when an event is added. */
  get generation(): number {
    return this.generationValue;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The latest revoked_at held (whole seconds), the base of the next `since`. */
  get latestRevokedAtS(): number | undefined {
    return this.latestRevokedAt;
  }

  /** Adds events not held yet (an overlapping poll repeats some); returns how many were new. */
  add(events: Iterable<RevocationEvent>): number {
    let added = 0;
    for (const event of events) {
      if (this.byKey.has(event.key)) continue;
      this.byKey.set(event.key, event);
      const field = INDEXED.find((name) => event[name] !== undefined);
      if (field === undefined) this.unindexed.push(event);
      else {
        const map = this.maps.get(field)!;
        const value = event[field]!;
        const list = map.get(value);
        if (list) list.push(event);
        else map.set(value, [event]);
      }
      if (this.latestRevokedAt === undefined || event.revokedAtS > this.latestRevokedAt) this.latestRevokedAt = event.revokedAtS;
      added++;
    }
    if (added > 0) this.generationValue++;
    return added;
  }

  /** The first event held that revokes the token, or undefined. */
  find(token: RevocationSubject): RevocationEvent | undefined {
    if (this.byKey.size === 0) return undefined;
    return (
      this.inMap('auditId', token.auditId, token) ??
      this.inMap('userId', token.userId, token) ??
      this.inMap('userId', token.trustorId, token) ??
      this.inMap('userId', token.trusteeId, token) ??
      this.inMap('projectId', token.projectId, token) ??
      this.inMap('trustId', token.trustId, token) ??
      this.inMap('consumerId', token.consumerId, token) ??
      this.inMap('auditChainId', token.auditChainId, token) ??
      this.inMap('domainId', token.identityDomainId, token) ??
      this.inMap('domainId', token.assignmentDomainId, token) ??
      this.inMap('domainScopeId', token.assignmentDomainId, token) ??
      this.unindexed.find((event) => revokes(event, token))
    );
  }

  private inMap(field: IndexedField, value: string | undefined, token: RevocationSubject): RevocationEvent | undefined {
    if (value === undefined) return undefined;
    const list = this.maps.get(field)!.get(value);
    if (list === undefined) return undefined;
    for (const event of list) if (revokes(event, token)) return event;
    return undefined;
  }

  /**
   * Forgets the events revoked before `cutoffS` (whole seconds), as Keystone prunes its own (revoked_at older
   * than [token] expiration + [revoke] expiration_buffer): the tokens they could revoke have expired.
   */
  prune(cutoffS: number): number {
    let removed = 0;
    for (const [key, event] of this.byKey) {
      if (event.revokedAtS >= cutoffS) continue;
      this.byKey.delete(key);
      removed++;
      const field = INDEXED.find((name) => event[name] !== undefined);
      if (field === undefined) this.unindexed.splice(this.unindexed.indexOf(event), 1);
      else {
        const map = this.maps.get(field)!;
        const list = map.get(event[field]!)!;
        list.splice(list.indexOf(event), 1);
        if (list.length === 0) map.delete(event[field]!);
      }
    }
    return removed;
  }
}
