import { IdentityServerError, TokenRejectedError } from '../errors.js';
import { tokenLogId } from '../token/hash.js';
import type { AdminToken } from './admin-token.js';
import { parseJsonResponse, type IdentityClient } from './client.js';
import type { VersionDiscovery } from './versions.js';

/**
 * Validates a token that is neither PKI nor PKIZ (UUID, Fernet) against the identity server with the admin
 * token: GET /v2.0/tokens/{id}, or GET /v3/auth/tokens with X-Subject-Token. 404 means invalid. A 401 drops
 * the admin token and retries once. Returns the token body ({"access": …} or {"token": …}).
 */
export async function validateOnline(
  token: string,
  deps: { client: IdentityClient; versions: VersionDiscovery; adminToken: AdminToken; includeCatalog: boolean },
): Promise<unknown> {
  const version = await deps.versions.resolve();
  const label = `${version === 'v3' ? 'GET /v3/auth/tokens' : 'GET /v2.0/tokens/<token>'} (token ${tokenLogId(token)})`;
  for (let attempt = 0; attempt < 2; attempt++) {
    const admin = await deps.adminToken.get();
    const response =
      version === 'v3'
        ? await deps.client.request({
            path: `/v3/auth/tokens${deps.includeCatalog ? '' : '?nocatalog'}`,
            headers: { 'x-auth-token': admin, 'x-subject-token': token },
            label,
          })
        : await deps.client.request({ path: `/v2.0/tokens/${encodeURIComponent(token)}`, headers: { 'x-auth-token': admin }, label });
    if (response.status === 200 || response.status === 203) return parseJsonResponse(response, label);
    if (response.status === 404) throw new TokenRejectedError('ERR_TOKEN_INVALID', 'the identity server does not know this token (404)');
    if (response.status === 401 && attempt === 0 && !deps.adminToken.isStatic) {
      deps.adminToken.invalidate();
      continue;
    }
    if (response.status === 401 || response.status === 403) {
      throw new IdentityServerError('ERR_IDENTITY_AUTH', `${label}: the identity server refused the admin token (HTTP ${response.status}); check the admin credentials`);
    }
    throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered ${response.status}`);
  }
  throw new IdentityServerError('ERR_IDENTITY_AUTH', `${label}: the admin token was refused twice`);
}
