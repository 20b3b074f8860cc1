import { IdentityServerError } from '../errors.js';
import { untilAborted } from './client.js';

/**
 * Runs one token validation under one total deadline (validationDeadline): every request it makes, retries and
 * backoff included, is aborted when the deadline fires, and the caller gets 503 ERR_IDENTITY_TIMEOUT naming it.
 * Work shared with other validations (the service user's authentication, a revocation list refresh) goes on.
 */
export async function validationDeadline<T>(ms: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(
      new IdentityServerError(
        'ERR_IDENTITY_TIMEOUT',
        `token validation did not finish within validationDeadline (${ms / 1000} s), retries included: the identity server is not answering in time; the request gets 503`,
      ),
    );
  }, ms);
  timer.unref();
  try {
    return await untilAborted(run(controller.signal), controller.signal);
  } finally {
    clearTimeout(timer);
  }
}

/** What an identity server failure means, in a few words for the log line (credential errors are not outages). */
export function identityFailureSummary(error: IdentityServerError): string {
  switch (error.code) {
    case 'ERR_IDENTITY_AUTH':
      return 'the service credentials are wrong or lack the role to validate tokens (not an outage: fix the service user)';
    case 'ERR_IDENTITY_TIMEOUT':
      return 'the identity server did not answer within validationDeadline';
    case 'ERR_IDENTITY_TLS':
      return 'https:// configured for a plain-HTTP identity server port';
    case 'ERR_IDENTITY_RESPONSE':
      return 'the identity server gave an unusable answer';
    default:
      return 'identity server unavailable';
  }
}
