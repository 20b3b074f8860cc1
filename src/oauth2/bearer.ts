import { TokenFormatError, TokenRejectedError } from '../errors.js';
import type { AuthProtocol, Decision, RequestContext, RequestHeaders } from '../protocol.js';
import { refusalOf, type Refusal } from '../adapters/refusal.js';

/**
 * OAuth2 client-credentials access tokens (keystonemiddleware's oauth2_token filter): the token is read from
 * `Authorization: Bearer <token>` only. The scheme is matched as keystonemiddleware (webob) matches it, case
 * included: `bearer x` is not a bearer token there, and is not here. X-Auth-Token and X-Service-Token are not read
 * (a service token would otherwise lift access rules it was never checked for); the token then goes through the
 * same cache, revocation checks, access rules and bind checks as an X-Auth-Token.
 */
export function bearerToken(authorization: string | string[] | undefined): string | undefined {
  const value = Array.isArray(authorization) ? authorization[0] : authorization;
  if (value === undefined || !value.startsWith('Bearer ')) return undefined;
  const token = value.slice(7);
  return token === '' ? undefined : token;
}

/** RFC 6750's b64token: what Fernet, JWS, UUID and PKI tokens are made of; whitespace and quotes never are. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** The decision on a request carrying (or lacking) an OAuth2 access token. */
export function decideBearer(protocol: AuthProtocol, headers: RequestHeaders, context: RequestContext): Decision | Promise<Decision> {
  const token = bearerToken(headers.authorization);
  if (token === undefined) {
    const error = new TokenRejectedError('ERR_TOKEN_MISSING', 'no OAuth2 access token (Authorization: Bearer <token>)');
    return { status: 'invalid', error, headers: { 'x-identity-status': 'Invalid' } };
  }
  if (!B64TOKEN.test(token)) {
    // "Bearer  <token>" would reach Keystone as <token> (HTTP trims header values): refused here as malformed.
    const error = new TokenFormatError('ERR_TOKEN_MALFORMED', 'the bearer token is not an RFC 6750 b64token (space, quote or other character a token never has)');
    return { status: 'invalid', error, headers: { 'x-identity-status': 'Invalid' } };
  }
  return protocol.decide({ 'x-auth-token': token }, context);
}

/**
 * The 401 or 503 for a refused bearer request: as for X-Auth-Token, but the challenge is RFC 6750's
 * (`Bearer`, with `error="invalid_token"` when a token was sent), followed by keystonemiddleware's
 * `Keystone uri="..."` challenge so clients that look for it still find it.
 */
export function bearerRefusal(decision: Exclude<Decision, { status: 'confirmed' }>, wwwAuthenticateUri: string, exposeReason: boolean): Refusal {
  const refusal = refusalOf(decision, wwwAuthenticateUri, exposeReason);
  const keystone = refusal.headers['www-authenticate'];
  if (keystone !== undefined) {
    const bearer = decision.error.code === 'ERR_TOKEN_MISSING' ? 'Bearer realm="OpenStack"' : 'Bearer realm="OpenStack", error="invalid_token"';
    refusal.headers['www-authenticate'] = `${bearer}, ${keystone}`;
  }
  return refusal;
}
