import { CertificateError, CmsVerificationError, IdentityServerError, KeystoneAuthError } from '../errors.js';
import { channels } from '../diagnostics.js';
import { SigningMaterial } from '../cms/verify.js';
import type { IdentityClient } from '../identity/client.js';
import { PATHS, type VersionDiscovery } from '../identity/versions.js';
import type { Logger } from '../logger.js';
import { CA_CERT_FILE, SIGNING_CERT_FILE, type SigningDir } from './signing-dir.js';
import { unreachable } from './unreachable.js';

/**
 * True for failures that fresh certificates may cure: a token (or revocation list) naming another signer, or
 * certificates that do not verify (expired, wrong purpose, untrusted). Both callers retry once after refresh().
 */
export function curableByNewCertificates(error: unknown): boolean {
  if (error instanceof CertificateError) return true;
  if (!(error instanceof CmsVerificationError)) return false;
  return error.code === 'ERR_SIGNER_MISMATCH' || (error.code === 'ERR_SIGNATURE_INVALID' && error.otherKeyPossible);
}

/**
 * The signing certificate and CA certificates: fetched from the identity server on first need (single-flight),
 * written to signing_dir atomically. signing_dir is the fallback for when the identity server cannot be reached
 * (transport failure, 5xx): its files are then used, with a warning, and the identity server is asked again
 * once per cooldown; they never outrank what the server serves. When tokens name a signer the cached
 * certificate is not (a rotation), `refresh()` refetches both, at most once per cooldown, so no one has to
 * `rm signing_dir/*`.
 */
export class CertificateStore {
  private material: SigningMaterial | undefined;
  private inFlight: Promise<SigningMaterial> | undefined;
  private lastFetchAt = -Infinity;
  /** The lastFetchAt of the cooldown in which an undecidable token was last reported at warn level. */
  private warnedInCooldownOf = -Infinity;
  /** When the fetch that gave the current material began (-Infinity: read from signing_dir). */
  private materialFetchedAt = -Infinity;
  /** Where the material in use came from. */
  source: 'identity server' | 'signing_dir' | undefined;
  /** How many times each file was fetched (diagnostics and tests). */
  readonly fetchCounts = { signing: 0, ca: 0 };

  constructor(
    private readonly dir: SigningDir,
    private readonly client: IdentityClient,
    private readonly versions: VersionDiscovery,
    private readonly logger: Logger,
    private readonly cooldownMs: number,
  ) {}

  /** The material in memory, if any (for health()). */
  get loaded(): SigningMaterial | undefined {
    return this.material;
  }

  /**
   * The material to verify with: in memory, else fetched, else (the identity server unreachable) from
   * signing_dir. Material from signing_dir is replaced by the server's as soon as it answers: asked again in the
   * background once per cooldown.
   */
  async current(): Promise<SigningMaterial> {
    const material = this.currentNow();
    if (material) return material;
    this.inFlight ??= this.load().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /** What current() gives without waiting (the material in memory, the same background refetch), else undefined. */
  currentNow(): SigningMaterial | undefined {
    if (!this.material) return undefined;
    if (this.source === 'signing_dir' && !this.inFlight && Date.now() - this.lastFetchAt >= this.cooldownMs) {
      this.inFlight = this.fetch().finally(() => (this.inFlight = undefined));
      this.inFlight.catch(() => {});
    }
    return this.material;
  }

  /**
   * The material to retry with after `triedWith` failed in a way fresher certificates may cure: a newer set
   * already loaded, the fetch in flight, or a new fetch. At most one fetch per cooldown: within it, throws
   * IdentityServerError ERR_CERTIFICATE_REFETCH_PENDING (503 with Retry-After: undecidable now, never cached).
   * So a stream of forged tokens cannot delay a real rotation's healing by more than one cooldown, and cannot
   * turn a valid token from a new key into a 401.
   */
  async refresh(reason: string, triedWith?: SigningMaterial): Promise<SigningMaterial> {
    if (this.material && triedWith && this.material !== triedWith) return this.material;
    if (this.inFlight) return this.inFlight;
    const sinceLast = Date.now() - this.lastFetchAt;
    if (this.material && sinceLast < this.cooldownMs) {
      const retryAfterSeconds = Math.max(1, Math.ceil((this.cooldownMs - sinceLast) / 1000));
      this.logger.debug({ reason, cooldownMs: this.cooldownMs, sinceLastMs: sinceLast }, 'signing certificates were fetched recently; not refetching');
      throw new IdentityServerError(
        'ERR_CERTIFICATE_REFETCH_PENDING',
        `${reason}: only fresher signing certificates can decide, and they were fetched ${Math.round(sinceLast / 1000)} s ago (certificateRefetchCooldown ${Math.round(this.cooldownMs / 1000)} s); retry in ${retryAfterSeconds} s`,
        { retryAfterSeconds },
      );
    }
    this.logger.info({ reason }, 'refetching signing certificates from the identity server');
    if (channels.certificateRefetch.hasSubscribers) channels.certificateRefetch.publish({ reason });
    this.inFlight = this.fetch().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async load(): Promise<SigningMaterial> {
    try {
      return await this.fetch();
    } catch (error) {
      if (!unreachable(error)) throw error;
      const [signing, ca] = await Promise.all([this.dir.read(SIGNING_CERT_FILE), this.dir.read(CA_CERT_FILE)]);
      if (!signing || !ca) throw error;
      try {
        this.material = new SigningMaterial({ signingCert: signing.text, caCerts: ca.text });
      } catch (invalid) {
        if (!(invalid instanceof CertificateError)) throw invalid;
        this.logger.warn({ signingDir: this.dir.path, code: invalid.code }, `the identity server cannot be reached and the certificates in signing_dir cannot be used (${invalid.message})`);
        throw error;
      }
      this.source = 'signing_dir';
      this.materialFetchedAt = -Infinity;
      this.logger.warn(
        { signingDir: this.dir.path, subject: this.material.signer.subject, serial: this.material.signer.serial, error: (error as Error).message },
        'the identity server cannot be reached for the signing certificates; verifying with those in signing_dir until it can',
      );
      return this.material;
    }
  }

  /** When the running refetch cooldown ends (ms since epoch); in the past when none runs. */
  get cooldownEndsAt(): number {
    return this.lastFetchAt + this.cooldownMs;
  }

  /**
   * True the first time it is asked in a cooldown: an undecidable token (ERR_CERTIFICATE_REFETCH_PENDING) is
   * worth one warning per cooldown (a rotation, or someone sending forged tokens), not an error per request.
   */
  firstUndecidableInCooldown(): boolean {
    if (this.warnedInCooldownOf === this.lastFetchAt) return false;
    this.warnedInCooldownOf = this.lastFetchAt;
    return true;
  }

  /** True when `material` is the current set and was fetched from the identity server at or after `time`. */
  fetchedSince(material: SigningMaterial, time: number): boolean {
    return material === this.material && this.materialFetchedAt >= time;
  }

  private async fetch(): Promise<SigningMaterial> {
    const startedAt = (this.lastFetchAt = Date.now());
    const version = await this.versions.resolve();
    const paths = PATHS[version];
    const [signingCert, caCerts] = await Promise.all([this.get(paths.signingCert, 'signing'), this.get(paths.caCert, 'ca')]);
    let material: SigningMaterial;
    try {
      material = new SigningMaterial({ signingCert, caCerts });
    } catch (error) {
      if (!(error instanceof KeystoneAuthError)) throw error;
      throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `the identity server served certificates that cannot be parsed (${error.message}); nothing was written to signing_dir`, { cause: error });
    }
    const changed = !this.material?.signer.der.equals(material.signer.der);
    if (this.source === 'signing_dir') this.logger.info({ changed }, 'signing certificates fetched from the identity server; signing_dir no longer stands in');
    this.material = material;
    this.source = 'identity server';
    this.materialFetchedAt = startedAt;
    if (changed) this.logger.info({ subject: material.signer.subject, serial: material.signer.serial }, 'signing certificate loaded from the identity server');
    await Promise.all([this.dir.write(SIGNING_CERT_FILE, signingCert), this.dir.write(CA_CERT_FILE, caCerts)]).catch((error: Error) => {
      this.logger.error({ signingDir: this.dir.path, error: error.message }, 'cannot write certificates to signing_dir; verifying with the copy in memory');
    });
    return material;
  }

  private async get(path: string, which: 'signing' | 'ca'): Promise<string> {
    this.fetchCounts[which]++;
    const response = await this.client.request({ path, label: `GET ${path}` });
    if (response.status !== 200) {
      throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `GET ${this.client.baseUrl}${path} answered ${response.status}; the identity server must serve its ${which === 'signing' ? 'token signing certificate' : 'CA certificate'} for PKI tokens`);
    }
    return response.text;
  }
}
