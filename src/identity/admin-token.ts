import { IdentityServerError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { parseJsonResponse, type IdentityClient } from './client.js';
import type { VersionDiscovery } from './versions.js';

const RENEW_BEFORE_MS = 120_000;

/**
 * The admin token used to fetch the revocation list and validate online tokens: admin_token as given, or
 * obtained with admin_user/admin_password/admin_tenant_name and renewed shortly before it expires.
 * One request at a time; `invalidate()` after a 401 makes the next call authenticate again.
 */
export class AdminToken {
  private token: string | undefined;
  private expiresAt = 0;
  private inFlight: Promise<string> | undefined;

  constructor(
    private readonly client: IdentityClient,
    private readonly versions: VersionDiscovery,
    private readonly options: Pick<ResolvedOptions, 'adminToken' | 'adminUser' | 'adminPassword' | 'adminTenantName'>,
  ) {}

  /** A fixed admin_token: nothing to renew. */
  get isStatic(): boolean {
    return Boolean(this.options.adminToken);
  }

  get configured(): boolean {
    return Boolean(this.options.adminToken || this.options.adminUser);
  }

  async get(now = Date.now()): Promise<string> {
    if (this.options.adminToken) return this.options.adminToken;
    if (this.token && now < this.expiresAt - RENEW_BEFORE_MS) return this.token;
    this.inFlight ??= this.authenticate().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  invalidate(): void {
    this.token = undefined;
    this.expiresAt = 0;
  }

  private async authenticate(): Promise<string> {
    const { adminUser, adminPassword, adminTenantName } = this.options;
    if (!adminUser || !adminPassword) {
      throw new IdentityServerError('ERR_IDENTITY_AUTH', 'no admin credentials: set admin_user/admin_password/admin_tenant_name (or admin_token) to fetch the revocation list and validate online tokens');
    }
    const version = await this.versions.resolve();
    const label = `${version === 'v3' ? 'POST /v3/auth/tokens' : 'POST /v2.0/tokens'} (admin_user ${adminUser})`;
    const response =
      version === 'v3'
        ? await this.client.request({
            method: 'POST',
            path: '/v3/auth/tokens',
            label,
            json: {
              auth: {
                identity: { methods: ['password'], password: { user: { name: adminUser, password: adminPassword, domain: { id: 'default' } } } },
                scope: { project: { name: adminTenantName, domain: { id: 'default' } } },
              },
            },
          })
        : await this.client.request({
            method: 'POST',
            path: '/v2.0/tokens',
            label,
            json: { auth: { passwordCredentials: { username: adminUser, password: adminPassword }, tenantName: adminTenantName } },
          });
    if (response.status === 401 || response.status === 403) {
      throw new IdentityServerError('ERR_IDENTITY_AUTH', `the identity server refused admin_user ${adminUser} (HTTP ${response.status}); check admin_user, admin_password and admin_tenant_name`);
    }
    if (response.status !== 200 && response.status !== 201) {
      throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered ${response.status}`);
    }
    const body = parseJsonResponse(response, label) as {
      access?: { token?: { id?: unknown; expires?: unknown } };
      token?: { expires_at?: unknown };
    };
    const subject = response.headers['x-subject-token'];
    const token = version === 'v3' ? (Array.isArray(subject) ? subject[0] : subject) : body.access?.token?.id;
    const expires = version === 'v3' ? body.token?.expires_at : body.access?.token?.expires;
    if (typeof token !== 'string' || token === '') {
      throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered without a token`);
    }
    const expiresAt = typeof expires === 'string' ? Date.parse(expires) : NaN;
    this.token = token;
    this.expiresAt = Number.isNaN(expiresAt) ? Date.now() + 10 * 60_000 : expiresAt;
    return token;
  }
}
