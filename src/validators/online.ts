import { IdentityServerError, TokenRejectedError } from '../errors.js';
import type { AdminToken } from '../identity/admin-token.js';
import { parseJsonResponse, type IdentityClient } from '../identity/client.js';
import type { VersionDiscovery } from '../identity/versions.js';
import { readIdentity } from '../token/access-info.js';
import type { TokenValidator, Validated } from './validator.js';
import { tokenLogId } from '../token/hash.js';

/** keystonemiddleware's ACCESS_RULES_SUPPORT: this middleware enforces application credential access rules. */
const ACCESS_RULES_SUPPORT = '1';

/**
 * Tokens that are neither PKI nor PKIZ (Fernet, JWS, UUID), validated online with the service user's token, as
 * keystonemiddleware does: GET /v3/auth/tokens with X-Subject-Token and OpenStack-Identity-Access-Rules (without
 * it Keystone refuses tokens of application credentials with access rules), `nocatalog` when the catalog is not
 * wanted, `allow_expired=1` when a service token allows it; GET /v2.0/tokens/{id} on v2.0. 404: invalid (401).
 * 401: the service token expired or was revoked; authenticate again once. Other answers and outages: 503.
 */
export class OnlineValidator implements TokenValidator {
  constructor(
    private readonly deps: { client: IdentityClient; versions: VersionDiscovery; adminToken: AdminToken; includeCatalog: boolean; counters: { onlineValidations: number } },
  ) {}

  async validate(token: string, _hashes: readonly string[], options: { allowExpired: boolean }): Promise<Validated> {
    this.deps.counters.onlineValidations++;
    const { body, bytes } = await this.fetch(token, options.allowExpired);
    return { identity: readIdentity(body), bodyBytes: bytes };
  }

  private async fetch(token: string, allowExpired: boolean): Promise<{ body: unknown; bytes: number }> {
    const { client, versions, adminToken, includeCatalog } = this.deps;
    const version = await versions.resolve();
    const label = `${version === 'v3' ? 'GET /v3/auth/tokens' : 'GET /v2.0/tokens/<token>'} (token ${tokenLogId(token)})`;
    const flags = [...(includeCatalog ? [] : ['nocatalog']), ...(allowExpired ? ['allow_expired=1'] : [])];
    for (let attempt = 0; attempt < 2; attempt++) {
      const admin = await adminToken.get();
      const response =
        version === 'v3'
          ? await client.request({
              path: `/v3/auth/tokens${flags.length > 0 ? `?${flags.join('&')}` : ''}`,
              headers: { 'x-auth-token': admin, 'x-subject-token': token, 'openstack-identity-access-rules': ACCESS_RULES_SUPPORT },
              label,
            })
          : await client.request({ path: `/v2.0/tokens/${encodeURIComponent(token)}${allowExpired ? '?allow_expired=1' : ''}`, headers: { 'x-auth-token': admin }, label });
      if (response.status === 200 || response.status === 203) return { body: parseJsonResponse(response, label), bytes: response.body.length };
      if (response.status === 404) throw new TokenRejectedError('ERR_TOKEN_INVALID', 'the identity server does not know this token, or it expired or was revoked (404)');
      if (response.status === 401 && attempt === 0 && !adminToken.isStatic) {
        adminToken.invalidate();
        continue;
      }
      if (response.status === 401 || response.status === 403) {
        throw new IdentityServerError('ERR_IDENTITY_AUTH', `${label}: the identity server refused the service user's token (HTTP ${response.status}); check the service credentials (${adminToken.describe}) and that the user has the service role`);
      }
      throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered ${response.status}`);
    }
    throw new IdentityServerError('ERR_IDENTITY_AUTH', `${label}: the service user's token was refused twice`);
  }
}
