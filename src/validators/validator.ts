import type { Identity } from '../token/access-info.js';

/** What a validator makes of a token it accepts. */
export interface Validated {
  identity: Identity;
  /** The length of the token body's JSON text (what the cached entry's size is reckoned from). */
  bodyBytes: number;
  /** PKI only: every id Keystone could have written for the same signed message, when they had to be computed. */
  keystoneIds?: readonly string[];
}

/**
 * One era of Keystone tokens: PKI/PKIZ validated offline (validators/pki.ts), Fernet/JWS/UUID online
 * (validators/online.ts). A refused token is a typed error: invalid (401) or undecidable now (503).
 */
export interface TokenValidator {
  /** `signal` fires at the validation's deadline (validationDeadline): requests still running are aborted. */
  validate(token: string, hashes: readonly string[], options: { allowExpired: boolean; signal?: AbortSignal }): Promise<Validated>;
}
