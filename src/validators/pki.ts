import { IdentityServerError, TokenRejectedError } from '../errors.js';
import { canonicalForms } from '../cms/canonical.js';
import type { ParsedCertificate } from '../cms/certificate.js';
import { parseSignedData, type ParsedSignedData } from '../cms/signed-data.js';
import type { SigningMaterial, VerifiedToken } from '../cms/verify.js';
import type { ResolvedOptions } from '../options.js';
import { curableByNewCertificates, type CertificateStore } from '../signing/certificates.js';
import type { RevocationList } from '../signing/revocations.js';
import type { RevocationEntries } from '../signing/revoked-set.js';
import { readIdentity, type Identity } from '../token/access-info.js';
import { derToPkiToken, derToPkizToken, tokenToDer } from '../token/format.js';
import { hashToken } from '../token/hash.js';
import { UndecidableTokens } from './undecidable-tokens.js';
import type { TokenValidator, Validated } from './validator.js';

/** What the revocation list may name a token by, as far as it has been worked out. */
export interface RevocationSubject {
  /** The token's own hashes (hash_algorithms). */
  hashes: readonly string[];
  /** The audit ids of its signed body. */
  auditIds: readonly string[];
  /** Every id Keystone could have written for the same signed message, once computed (memoised here). */
  keystoneIds?: readonly string[];
}

/**
 * PKI and PKIZ tokens, validated offline: the CMS signature against the signing certificates (refetched when
 * only fresher ones could decide), then the revocation list.
 */
export class PkiValidator implements TokenValidator {
  /** Tokens answered ERR_CERTIFICATE_REFETCH_PENDING in this cooldown: answered so again without verifying. */
  readonly undecidable = new UndecidableTokens();

  constructor(
    private readonly deps: {
      certificates: CertificateStore;
      revocations: RevocationList;
      options: ResolvedOptions;
      counters: { cmsVerifications: number };
    },
  ) {}

  /** The token's identity; a typed error when it is invalid (401) or cannot be decided now (503). */
  async validate(token: string, hashes: readonly string[]): Promise<Validated> {
    return this.conclude(await this.verify(token), hashes);
  }

  /**
   * validate() without a wait when none is needed (the signing certificates in memory, a revocation list fresh
   * enough): the outcome, or the refusal thrown, at once. A promise when the verification failed in a way that
   * fresher certificates may cure (the refetch decides); undefined when certificates or the list must be
   * fetched first (validate() then does all of it, under the validation deadline). Same checks, same order.
   */
  validateAtOnce(token: string, hashes: readonly string[]): Validated | Promise<Validated> | undefined {
    const material = this.deps.certificates.currentNow();
    const list = material && this.deps.revocations.idsNow();
    if (!list) return undefined;
    const verified = this.verifyWith(material, token, Date.now());
    if (verified instanceof Promise) return verified.then((outcome) => this.conclude(outcome, hashes));
    const identity = readIdentity(verified.verified.json());
    return this.unlessRevoked(list, identity, verified, hashes);
  }

  /** The identity of a verified token, checked against the revocation list. */
  private async conclude(outcome: { verified: VerifiedToken; material: SigningMaterial }, hashes: readonly string[]): Promise<Validated> {
    const identity = readIdentity(outcome.verified.json());
    return this.unlessRevoked(await this.deps.revocations.ids(), identity, outcome, hashes);
  }

  private unlessRevoked(list: RevocationEntries, identity: Identity, { verified, material }: { verified: VerifiedToken; material: SigningMaterial }, hashes: readonly string[]): Validated {
    const subject: RevocationSubject = { hashes, auditIds: identity.auditIds };
    checkRevokedIn(list, subject, () => keystoneIds(verified.signedData, material.signer, this.deps.options.hashAlgorithms));
    return { identity, bodyBytes: verified.content.length, keystoneIds: subject.keystoneIds };
  }

  /** As validate()'s revocation check, for a token known from the cache (check_revocations_for_cached). */
  async checkCachedRevoked(token: string, subject: RevocationSubject): Promise<void> {
    const material = await this.deps.certificates.current();
    checkRevokedIn(await this.deps.revocations.ids(), subject, () => keystoneIds(parseSignedData(tokenToDer(token, this.limits)), material.signer, this.deps.options.hashAlgorithms));
  }

  private get limits() {
    return { maxTokenLength: this.deps.options.maxTokenLength, maxInflatedBytes: this.deps.options.maxInflatedBytes };
  }

  /**
   * CMS verification. A failure that fresher certificates may cure (another signer named; a signature another
   * key may have made; certificates that do not verify) is retried once with refetched certificates, or, while
   * the refetch cooldown runs, answered 503 (CertificateStore.refresh): never 401 and never cached before
   * a refetch has had its say.
   */
  private async verify(token: string): Promise<{ verified: VerifiedToken; material: SigningMaterial }> {
    const arrivedAt = Date.now();
    return this.verifyWith(await this.deps.certificates.current(), token, arrivedAt);
  }

  /** verify() with the material at hand: at once, or a promise when a refetch of the certificates must decide. */
  private verifyWith(material: SigningMaterial, token: string, arrivedAt: number): Verification | Promise<Verification> {
    const again = this.undecidable.recall(token, material, arrivedAt);
    if (again) throw again;
    this.deps.counters.cmsVerifications++;
    try {
      return { verified: material.verify(token, this.limits), material };
    } catch (error) {
      // Certificates fetched after the token arrived have had their say: the failure is final.
      if (!curableByNewCertificates(error) || this.deps.certificates.fetchedSince(material, arrivedAt)) throw error;
      return this.verifyAfterRefetch(token, material, (error as { code: string }).code);
    }
  }

  private async verifyAfterRefetch(token: string, material: SigningMaterial, cause: string): Promise<Verification> {
    let fresh: SigningMaterial;
    try {
      fresh = await this.deps.certificates.refresh(`token refused with ${cause}`, material);
    } catch (refusal) {
      if (refusal instanceof IdentityServerError && refusal.code === 'ERR_CERTIFICATE_REFETCH_PENDING') {
        this.undecidable.remember(token, material, this.deps.certificates.cooldownEndsAt, cause);
      }
      throw refusal;
    }
    this.deps.counters.cmsVerifications++;
    return { verified: fresh.verify(token, this.limits), material: fresh };
  }
}

type Verification = { verified: VerifiedToken; material: SigningMaterial };

/**
 * Throws ERR_TOKEN_REVOKED when the list names the token: by one of its hashes, by one of its audit ids (as
 * keystonemiddleware has done since CVE-2015-7546: every re-encoding of a token carries the same signed
 * audit ids), and, while the list has entries without an audit id, by any id Keystone could have written
 * for the same signed message (PKI and PKIZ forms of its canonical encodings, see cms/canonical.ts).
 * `subject.keystoneIds` is filled in when they had to be computed.
 */
function checkRevokedIn(list: RevocationEntries, subject: RevocationSubject, computeKeystoneIds: () => readonly string[]): void {
  if (list.size === 0) return;
  const revoked =
    subject.hashes.some((id) => list.has(id)) ||
    subject.auditIds.some((id) => list.hasAuditId(id)) ||
    (list.withoutAuditId > 0 && (subject.keystoneIds ??= computeKeystoneIds()).some((id) => list.has(id)));
  if (revoked) throw new TokenRejectedError('ERR_TOKEN_REVOKED', 'token is revoked');
}

/**
 * The ids the revocation list may name a verified message by: the hashes of every PKI and PKIZ token Keystone
 * (keystoneclient's cms_sign_token and pkiz_sign) could have written for its signed content and signature.
 */
export function keystoneIds(signedData: ParsedSignedData, signer: ParsedCertificate, algorithms: readonly string[]): string[] {
  const ids = new Set<string>();
  for (const form of canonicalForms(signedData, signer)) {
    const tokens = [derToPkiToken(form), derToPkizToken(form)];
    for (const token of tokens) for (const algorithm of algorithms) ids.add(hashToken(token, algorithm));
  }
  return [...ids];
}
