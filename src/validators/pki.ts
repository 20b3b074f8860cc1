import { IdentityServerError, TokenRejectedError } from '../errors.js';
import { canonicalForms } from '../cms/canonical.js';
import type { ParsedCertificate } from '../cms/certificate.js';
import { parseSignedData, type ParsedSignedData } from '../cms/signed-data.js';
import type { SigningMaterial, VerifiedToken } from '../cms/verify.js';
import type { ResolvedOptions } from '../options.js';
import { curableByNewCertificates, type CertificateStore } from '../signing/certificates.js';
import type { RevocationList } from '../signing/revocations.js';
import { readIdentity } from '../token/access-info.js';
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
    const { verified, material } = await this.verify(token);
    const identity = readIdentity(verified.json());
    const subject: RevocationSubject = { hashes, auditIds: identity.auditIds };
    await this.checkRevoked(subject, () => keystoneIds(verified.signedData, material.signer, this.deps.options.hashAlgorithms));
    return { identity, bodyBytes: verified.content.length, keystoneIds: subject.keystoneIds };
  }

  /**
   * Throws ERR_TOKEN_REVOKED when the list names the token: by one of its hashes, by one of its audit ids (as
   * keystonemiddleware has done since CVE-2015-7546: every re-encoding of a token carries the same signed
   * audit ids), and, while the list has entries without an audit id, by any id Keystone could have written
   * for the same signed message (PKI and PKIZ forms of its canonical encodings, see cms/canonical.ts).
   * `subject.keystoneIds` is filled in when they had to be computed.
   */
  private async checkRevoked(subject: RevocationSubject, computeKeystoneIds: () => readonly string[]): Promise<void> {
    const list = await this.deps.revocations.ids();
    if (list.size === 0) return;
    const revoked =
      subject.hashes.some((id) => list.has(id)) ||
      subject.auditIds.some((id) => list.hasAuditId(id)) ||
      (list.withoutAuditId > 0 && (subject.keystoneIds ??= computeKeystoneIds()).some((id) => list.has(id)));
    if (revoked) throw new TokenRejectedError('ERR_TOKEN_REVOKED', 'token is revoked');
  }

  /** As checkRevoked, for a token known from the cache (check_revocations_for_cached). */
  async checkCachedRevoked(token: string, subject: RevocationSubject): Promise<void> {
    const material = await this.deps.certificates.current();
    await this.checkRevoked(subject, () => keystoneIds(parseSignedData(tokenToDer(token, this.limits)), material.signer, this.deps.options.hashAlgorithms));
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
    const material = await this.deps.certificates.current();
    const key = UndecidableTokens.keyOf(token);
    const again = this.undecidable.recall(key, material, arrivedAt);
    if (again) throw again;
    this.deps.counters.cmsVerifications++;
    try {
      return { verified: material.verify(token, this.limits), material };
    } catch (error) {
      // Certificates fetched after the token arrived have had their say: the failure is final.
      if (!curableByNewCertificates(error) || this.deps.certificates.fetchedSince(material, arrivedAt)) throw error;
      const cause = (error as { code: string }).code;
      let fresh: SigningMaterial;
      try {
        fresh = await this.deps.certificates.refresh(`token refused with ${cause}`, material);
      } catch (refusal) {
        if (refusal instanceof IdentityServerError && refusal.code === 'ERR_CERTIFICATE_REFETCH_PENDING') {
          this.undecidable.remember(key, material, this.deps.certificates.cooldownEndsAt, cause);
        }
        throw refusal;
      }
      this.deps.counters.cmsVerifications++;
      return { verified: fresh.verify(token, this.limits), material: fresh };
    }
  }
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
