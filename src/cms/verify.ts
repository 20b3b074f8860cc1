import { isUtf8 } from 'node:buffer';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { CertificateError, CmsVerificationError } from '../errors.js';
import { tokenToDer, type DecodeLimits } from '../token/format.js';
import { parseCertificates, type ParsedCertificate } from './certificate.js';
import { buildChain, checkValidity } from './chain.js';
import { checkCertificateShape, parseSignedData, type ParsedSignedData } from './signed-data.js';
import { describeSid, signerMatches, verifySignerInfo, verifySignerInfoAsync } from './signature.js';
import { isKnownDigest, type SignatureScheme } from './algorithms.js';

/** PEM (or DER) certificates to verify tokens with, as found in signing_dir. */
export interface SigningMaterialInput {
  /** The identity server's token signing certificate (signing_cert.pem). */
  signingCert: string | Uint8Array;
  /** The CA certificates (cacert.pem): intermediates and the self-signed root. */
  caCerts: string | Uint8Array;
}

/** The outcome of a successful verification. */
export interface VerifiedToken {
  /** The DER of the whole CMS message. */
  der: Uint8Array;
  /** The signed content: the token body as bytes. */
  content: Uint8Array;
  /** The parsed SignedData (slices of `der`). */
  signedData: ParsedSignedData;
  /** The content parsed as UTF-8 JSON; throws CmsVerificationError(ERR_CONTENT_NOT_JSON) otherwise. */
  json(): unknown;
  /** Digest algorithm of the signature, e.g. "sha256". */
  digestAlgorithm: string;
  /** Signature scheme, e.g. "sha256WithRSAEncryption". */
  signatureAlgorithm: string;
  signer: { subject: string; serial: string };
}

export interface VerifyOptions extends DecodeLimits {
  /** The time at which certificates must be valid. Default: now. */
  now?: Date;
}

/**
 * Signing material parsed once: the signing certificate, the CA certificates and the verdict on the path
 * between them. Verifying a token against it costs a CMS parse and one signature check.
 */
export class SigningMaterial {
  readonly signer: ParsedCertificate;
  readonly caCerts: readonly ParsedCertificate[];
  private chain: ParsedCertificate[] | undefined;
  private chainError: CertificateError | undefined;

  constructor(input: SigningMaterialInput) {
    const signers = parseCertificates(input.signingCert, 'signing certificate');
    this.signer = signers[0]!;
    this.caCerts = parseCertificates(input.caCerts, 'CA certificate');
    try {
      // Only the CA file builds the path: openssl cms -verify -certfile uses the signing file to find the signer,
      // never as intermediates or trust anchors (certificates after the first are ignored here).
      this.chain = buildChain(this.signer, [...this.caCerts]);
    } catch (error) {
      if (!(error instanceof CertificateError)) throw error;
      this.chainError = error;
    }
  }

  /** The path from the signing certificate to its root, or the CertificateError that prevents one. */
  certificatePath(now: Date = new Date()): ParsedCertificate[] {
    if (this.chainError) throw this.chainError;
    checkValidity(this.chain!, now);
    return this.chain!;
  }

  /** Verifies a PKI, PKIZ or PEM CMS token. Throws a typed error on every failure. */
  verify(token: string | Uint8Array, options: VerifyOptions = {}): VerifiedToken {
    const der = tokenToDer(token, options);
    const signedData = this.parseFor(der, options);
    let scheme: SignatureScheme | undefined;
    for (const signerInfo of signedData.signerInfos) scheme = verifySignerInfo(signerInfo, signedData.content, this.signer);
    checkCarriedCertificates(signedData);
    return this.result(der, signedData, scheme!);
  }

  /**
   * As verify(), without long pauses of the event loop for large messages such as a revocation list of
   * 1,000,000 entries: the signature is checked on libuv's thread pool, or, past 1 MB, over a content hashed a
   * slice at a time (see verifySignerInfoAsync).
   */
  async verifyAsync(token: string | Uint8Array, options: VerifyOptions = {}): Promise<VerifiedToken> {
    const der = tokenToDer(token, options);
    await yieldToEventLoop(); // decoding megabytes and parsing them are two separate pauses, not one long one
    const signedData = this.parseFor(der, options);
    let scheme: SignatureScheme | undefined;
    for (const signerInfo of signedData.signerInfos) scheme = await verifySignerInfoAsync(signerInfo, signedData.content, this.signer);
    checkCarriedCertificates(signedData);
    return this.result(der, signedData, scheme!);
  }

  private parseFor(der: Uint8Array, options: VerifyOptions) {
    const signedData = parseSignedData(der);
    checkDigestSet(signedData);
    for (const signerInfo of signedData.signerInfos) {
      if (!signerMatches(signerInfo, this.signer)) {
        throw new CmsVerificationError(
          'ERR_SIGNER_MISMATCH',
          `token was signed by a certificate with ${describeSid(signerInfo)}, not by the signing certificate ${this.signer.subject} (serial ${this.signer.serial}); the identity server may have rotated its signing certificate: fetch it again`,
        );
      }
    }
    this.certificatePath(options.now);
    return signedData;
  }

  private result(der: Uint8Array, signedData: ParsedSignedData, scheme: SignatureScheme): VerifiedToken {
    const content = signedData.content;
    return {
      der,
      content,
      signedData,
      json: () => parseJson(content),
      digestAlgorithm: scheme.digest,
      signatureAlgorithm: scheme.name,
      signer: { subject: this.signer.subject, serial: this.signer.serial },
    };
  }
}

/**
 * The certificates a token carries are never used (the signer comes from signing_cert.pem), but openssl refuses
 * a message whose certificates do not parse. Their X.509 shape is checked (checkCertificateShape, a walk of a
 * few elements each) only after the signature has verified, and a token carries at most CMS_LIMITS.certificates.
 */
function checkCarriedCertificates(signedData: ParsedSignedData): void {
  for (const der of signedData.certificates) checkCertificateShape(der);
}

/**
 * Every digest of the digestAlgorithms set must be one openssl knows, and each signer's digest must be among
 * them: openssl computes the content's digests from that set, and finds none for a signer whose digest is missing.
 */
function checkDigestSet(signedData: ParsedSignedData): void {
  for (const oid of signedData.digestAlgorithms) {
    if (!isKnownDigest(oid)) throw new CmsVerificationError('ERR_CMS_MALFORMED', `SignedData digestAlgorithms names ${oid}, which is not a digest algorithm`);
  }
  for (const signerInfo of signedData.signerInfos) {
    if (!signedData.digestAlgorithms.includes(signerInfo.digestAlgorithm.oid)) {
      throw new CmsVerificationError('ERR_CMS_MALFORMED', `SignedData digestAlgorithms (${signedData.digestAlgorithms.join(', ') || 'empty'}) lacks the signer's digest ${signerInfo.digestAlgorithm.oid}`);
    }
  }
}

function parseJson(content: Uint8Array): unknown {
  try {
    const bytes = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    if (!isUtf8(bytes)) throw new Error('not UTF-8');
    return JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new CmsVerificationError('ERR_CONTENT_NOT_JSON', 'signed content is not UTF-8 JSON', { cause });
  }
}

const materialCache = new Map<string, SigningMaterial>();
const MATERIAL_CACHE_SIZE = 16;

function materialFor(input: SigningMaterialInput): SigningMaterial {
  if (typeof input.signingCert !== 'string' || typeof input.caCerts !== 'string') return new SigningMaterial(input);
  const key = `${input.signingCert}\u0000${input.caCerts}`;
  let material = materialCache.get(key);
  if (!material) {
    material = new SigningMaterial(input);
    if (materialCache.size >= MATERIAL_CACHE_SIZE) materialCache.delete(materialCache.keys().next().value!);
    materialCache.set(key, material);
  }
  return material;
}

/**
 * Verifies a Keystone PKI or PKIZ token (or a PEM CMS message such as the revocation list) in-process, deciding
 * as `openssl cms -verify -certfile signingCert -CAfile caCerts` does. Throws TokenFormatError,
 * CmsVerificationError or CertificateError, each with a stable `code`.
 */
export function verifySignedToken(
  token: string | Uint8Array,
  material: (SigningMaterialInput & { now?: Date }) | SigningMaterial,
  limits: DecodeLimits = {},
): VerifiedToken {
  if (material instanceof SigningMaterial) return material.verify(token, limits);
  return materialFor(material).verify(token, { ...limits, now: material.now });
}
