import { IdentityServerError, TokenRejectedError } from '../errors.js';
import type { AdminToken } from '../identity/admin-token.js';
import { parseJsonResponse, untilAborted, type IdentityClient, type IdentityRequest } from '../identity/client.js';
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
 * What Keystone makes of a client's token never feeds the circuit breaker by itself: a failure (transport, 5xx)
 * is confirmed by validating the service's own token (see IdentityRequest.control); 5xx is not retried, so a
 * token Keystone answers 500 costs one request, as keystonemiddleware sends.
 */
export class OnlineValidator implements TokenValidator {
  constructor(
    private readonly deps: { client: IdentityClient; versions: VersionDiscovery; adminToken: AdminToken; includeCatalog: boolean; counters: { onlineValidations: number } },
  ) {}

  async validate(token: string, _hashes: readonly string[], options: { allowExpired: boolean; signal?: AbortSignal }): Promise<Validated> {
    this.deps.counters.onlineValidations++;
    const { body, bytes } = await this.fetch(token, options.allowExpired, options.signal);
    return { identity: readIdentity(body), bodyBytes: bytes };
  }

  /** The request that validates `subject` with the service's token `admin`. */
  private request(version: 'v2.0' | 'v3', subject: string, admin: string, flags: string[], label: string): IdentityRequest {
    return version === 'v3'
      ? {
          path: `/v3/auth/tokens${flags.length > 0 ? `?${flags.join('&')}` : ''}`,
          headers: { 'x-auth-token': admin, 'x-subject-token': subject, 'openstack-identity-access-rules': ACCESS_RULES_SUPPORT },
          label,
        }
      : { path: `/v2.0/tokens/${encodeURIComponent(subject)}${flags.includes('allow_expired=1') ? '?allow_expired=1' : ''}`, headers: { 'x-auth-token': admin }, label };
  }

  private async fetch(token: string, allowExpired: boolean, signal: AbortSignal | undefined): Promise<{ body: unknown; bytes: number }> {
    const { client, versions, adminToken, includeCatalog } = this.deps;
    const version = await untilAborted(versions.resolve(), signal);
    // The control: the service's own token, validated the same way. Whatever the client sent, it is known good.
    const control = async (): Promise<IdentityRequest> => {
      const admin = await adminToken.get();
      return this.request(version, admin, admin, ['nocatalog'], `${version === 'v3' ? 'GET /v3/auth/tokens' : 'GET /v2.0/tokens/<token>'} (control: the service's own token)`);
    };
    const label = `${version === 'v3' ? 'GET /v3/auth/tokens' : 'GET /v2.0/tokens/<token>'} (token ${tokenLogId(token)})`;
    const flags = [...(includeCatalog ? [] : ['nocatalog']), ...(allowExpired ? ['allow_expired=1'] : [])];
    for (let attempt = 0; attempt < 2; attempt++) {
      const admin = await untilAborted(adminToken.get(), signal);
      const response = await client.request({ ...this.request(version, token, admin, flags, label), control, signal });
      if (response.status === 200 || response.status === 203) return { body: parseJsonResponse(response, label), bytes: response.body.length };
      if (response.status === 404) throw new TokenRejectedError('ERR_TOKEN_INVALID', 'the identity server does not know this token, or it expired or was revoked (404)');
      if (response.status === 401 && attempt === 0 && !adminToken.isStatic) {
        adminToken.invalidate();
        continue;
      }
      if (response.status === 401 || response.status === 403) {
        throw new IdentityServerError('ERR_IDENTITY_AUTH', `${label}: the identity server refused the service user's token (HTTP ${response.status}): the service credentials are wrong or the service user may not validate tokens; check them (${adminToken.describe}) and that the user has the service role`);
      }
      throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered ${response.status}`);
    }
    throw new IdentityServerError('ERR_IDENTITY_AUTH', `${label}: the service user's token was refused twice`);
  }
}
