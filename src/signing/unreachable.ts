import { IdentityServerError } from '../errors.js';

/**
 * Failures worth falling back to signing_dir for: the identity server could not be reached, or answered 5xx.
 * An answer it gave that does not verify or parse is not one of them: signing_dir must not outrank it.
 */
export function unreachable(error: unknown): boolean {
  if (!(error instanceof IdentityServerError)) return false;
  return error.code === 'ERR_IDENTITY_UNAVAILABLE' || (error.code === 'ERR_IDENTITY_RESPONSE' && / answered 5\d\d\b/.test(error.message));
}
