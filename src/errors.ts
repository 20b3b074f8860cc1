/**
 * Typed errors. Every failure a caller can cause or meet has a stable `code` to branch on; the message says
 * what is wrong and what to do. Messages never contain a whole token or a secret.
 */

/** The stable codes, grouped by where they arise. */
export type ErrorCode =
  // token decoding (src/token)
  | 'ERR_TOKEN_MISSING'
  | 'ERR_TOKEN_TOO_LONG'
  | 'ERR_TOKEN_MALFORMED'
  | 'ERR_PKIZ_CORRUPT'
  | 'ERR_PKIZ_TOO_LARGE'
  // CMS structure and signature (src/cms)
  | 'ERR_CMS_MALFORMED'
  | 'ERR_CMS_NOT_SIGNED_DATA'
  | 'ERR_CMS_CONTENT_NOT_DATA'
  | 'ERR_CMS_DETACHED'
  | 'ERR_CMS_TOO_COMPLEX'
  | 'ERR_SIGNER_MISMATCH'
  | 'ERR_UNSUPPORTED_ALGORITHM'
  | 'ERR_SIGNATURE_INVALID'
  | 'ERR_MESSAGE_DIGEST_MISMATCH'
  | 'ERR_CONTENT_TYPE_MISMATCH'
  | 'ERR_CONTENT_NOT_JSON'
  // the signing material (src/cms/chain.ts)
  | 'ERR_CERT_MALFORMED'
  | 'ERR_CERT_MISSING'
  | 'ERR_CERT_EXPIRED'
  | 'ERR_CERT_NOT_YET_VALID'
  | 'ERR_CERT_UNTRUSTED'
  | 'ERR_CERT_SIGNATURE'
  | 'ERR_CERT_NOT_CA'
  | 'ERR_CERT_PATH_LENGTH'
  | 'ERR_CERT_NAME_CONSTRAINTS'
  | 'ERR_CERT_PURPOSE'
  | 'ERR_CERT_CRITICAL_EXTENSION'
  // token contents and decisions (src/token, src/protocol.ts)
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_REVOKED'
  | 'ERR_TOKEN_INVALID'
  | 'ERR_TOKEN_BIND'
  | 'ERR_SERVICE_TOKEN_ROLES'
  | 'ERR_ACCESS_RULES'
  // the request itself (src/adapters)
  | 'ERR_REQUEST_PATH'
  // configuration and environment
  | 'ERR_CONFIG'
  | 'ERR_SIGNING_DIR'
  | 'ERR_SIGNING_DIR_UNSAFE'
  // the identity server
  | 'ERR_IDENTITY_UNAVAILABLE'
  | 'ERR_IDENTITY_RESPONSE'
  | 'ERR_IDENTITY_AUTH'
  | 'ERR_IDENTITY_TIMEOUT'
  | 'ERR_IDENTITY_TLS'
  | 'ERR_REVOCATION_LIST_STALE'
  | 'ERR_CERTIFICATE_REFETCH_PENDING';

/** Base class of every error this library throws on purpose. */
export class KeystoneAuthError extends Error {
  /** Stable identifier: branch on this, not on the message. */
  readonly code: ErrorCode;
  /** The HTTP status a request refused for this reason gets. */
  readonly status: number;
  /**
   * With `onError: 'next'`, on the error a refused request hands to the application's error handler: the headers
   * the answer needs (WWW-Authenticate of a 401, Retry-After of a 503, content-type). Undefined otherwise.
   */
  headers?: Record<string, string>;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options?.status ?? 401;
    this.name = new.target.name;
  }
}

/** The token string itself cannot be decoded (bad base64, bad zlib, too long). HTTP 401. */
export class TokenFormatError extends KeystoneAuthError {}

/** The CMS message is malformed, uses a refused algorithm, names another signer, or its signature is wrong. HTTP 401. */
export class CmsVerificationError extends KeystoneAuthError {
  /**
   * For ERR_SIGNATURE_INVALID: false when the signature was made with the signing certificate's own key over
   * other bytes (the content was altered: no certificate can cure it); true when another key may have made it
   * (a rotation that kept issuer and serial, or a forgery), so fresher certificates may verify it.
   */
  otherKeyPossible = true;
}

/**
 * The signing material (signing certificate, CA certificates) does not allow verification: expired, wrong
 * purpose, untrusted chain. The token may be fine; the certificates are not. HTTP 401 (fail closed) and the
 * middleware logs it as an operator problem.
 */
export class CertificateError extends KeystoneAuthError {}

/** The token verified but must not be accepted: expired, revoked, bind or service-role rules. HTTP 401. */
export class TokenRejectedError extends KeystoneAuthError {}

/**
 * The request-target is not in normal form (a fragment, a dot segment, a backslash, an empty segment, a
 * malformed percent-escape, absolute-form or asterisk-form), so the path the application routes cannot be known
 * for `unless` and access rules. HTTP 400, whatever delay_auth_decision says.
 */
export class RequestPathError extends KeystoneAuthError {
  constructor(message: string) {
    super('ERR_REQUEST_PATH', message, { status: 400 });
  }
}

/** A configuration problem, found at construction or start-up. */
export class ConfigError extends KeystoneAuthError {
  constructor(code: 'ERR_CONFIG' | 'ERR_SIGNING_DIR' | 'ERR_SIGNING_DIR_UNSAFE', message: string, options?: { cause?: unknown }) {
    super(code, message, { ...options, status: 500 });
  }
}

/** The identity server is needed and cannot give a usable answer. HTTP 503, nothing cached. */
export class IdentityServerError extends KeystoneAuthError {
  constructor(
    code: 'ERR_IDENTITY_UNAVAILABLE' | 'ERR_IDENTITY_RESPONSE' | 'ERR_IDENTITY_AUTH' | 'ERR_IDENTITY_TIMEOUT' | 'ERR_IDENTITY_TLS' | 'ERR_REVOCATION_LIST_STALE' | 'ERR_CERTIFICATE_REFETCH_PENDING',
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(code, message, { cause: options?.cause, status: 503 });
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  /** When to ask again, in seconds (the Retry-After of the 503), when known. */
  readonly retryAfterSeconds: number | undefined;
}
