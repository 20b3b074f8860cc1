import { IdentityServerError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { parseJsonResponse, type IdentityClient } from './client.js';
import type { ApiVersion, VersionDiscovery } from './versions.js';

const RENEW_BEFORE_MS = 120_000;

type Options = Pick<ResolvedOptions, 'credentials' | 'interface' | 'regionName' | 'identityUri'>;

/**
 * The service user's token, used to validate online tokens and fetch the revocation list: a fixed admin_token,
 * or one obtained with the configured credentials (keystoneauth options, or the legacy admin_user) and renewed
 * shortly before it expires. One authentication at a time; `invalidate()` after a 401 makes the next call
 * authenticate again. With keystoneauth options and no identity_uri, the identity endpoint is read from the
 * catalog of that token (`interface`, `region_name`), as keystonemiddleware's session adapter finds it.
 */
export class AdminToken {
  private token: string | undefined;
  private expiresAt = 0;
  private inFlight: Promise<string> | undefined;
  private catalogEndpoint: string | undefined;
  /** The last authentication of the service user: accepted, or refused (401/403) with why; for health(). */
  lastOutcome: { ok: boolean; at: number; error?: string } | undefined;

  constructor(
    private readonly client: IdentityClient,
    private readonly versions: VersionDiscovery,
    private readonly options: Options,
  ) {
    if (!options.identityUri && options.credentials?.kind === 'keystoneauth') {
      client.useLocator(async () => {
        await this.get();
        return this.catalogEndpoint!;
      });
    }
  }

  /** A fixed admin_token: nothing to renew. */
  get isStatic(): boolean {
    return this.options.credentials?.kind === 'admin_token';
  }

  get configured(): boolean {
    return this.options.credentials !== undefined;
  }

  /** Who authenticates, for messages (never a secret). */
  get describe(): string {
    return this.options.credentials?.describe ?? 'no credentials';
  }

  async get(now = Date.now()): Promise<string> {
    const credentials = this.options.credentials;
    if (credentials?.kind === 'admin_token') return credentials.token;
    if (this.token && now < this.expiresAt - RENEW_BEFORE_MS) return this.token;
    this.inFlight ??= this.authenticate().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  invalidate(): void {
    this.token = undefined;
    this.expiresAt = 0;
  }

  private async authenticate(): Promise<string> {
    const credentials = this.options.credentials;
    if (!credentials || credentials.kind === 'admin_token') {
      throw new IdentityServerError('ERR_IDENTITY_AUTH', 'no service credentials: set auth_type, auth_url, username, password, user_domain_name, project_name, project_domain_name (or the legacy admin_user/admin_password/admin_tenant_name) to fetch the revocation list and validate online tokens');
    }
    let version: ApiVersion;
    let base: string | undefined;
    let json: unknown;
    if (credentials.kind === 'keystoneauth') {
      version = credentials.version;
      base = credentials.authUrl;
      json = credentials.body;
    } else {
      version = await this.versions.resolve();
      json =
        version === 'v3'
          ? {
              auth: {
                identity: { methods: ['password'], password: { user: { name: credentials.user, password: credentials.password, domain: { id: 'default' } } } },
                scope: { project: { name: credentials.tenant, domain: { id: 'default' } } },
              },
            }
          : { auth: { passwordCredentials: { username: credentials.user, password: credentials.password }, tenantName: credentials.tenant } };
    }
    const path = version === 'v3' ? '/v3/auth/tokens' : '/v2.0/tokens';
    const label = `POST ${base ?? ''}${path} (${credentials.describe})`;
    const response = await this.client.request({ method: 'POST', path, label, json, base });
    if (response.status === 401 || response.status === 403) {
      const error = new IdentityServerError('ERR_IDENTITY_AUTH', `the identity server refused the service credentials, ${credentials.describe} (HTTP ${response.status}); check them (user, password, their domains, the project and its domain)`);
      this.lastOutcome = { ok: false, at: Date.now(), error: error.message };
      throw error;
    }
    if (response.status !== 200 && response.status !== 201) {
      throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered ${response.status}`);
    }
    const body = parseJsonResponse(response, label) as {
      access?: { token?: { id?: unknown; expires?: unknown }; serviceCatalog?: unknown };
      token?: { expires_at?: unknown; catalog?: unknown };
    };
    const subject = response.headers['x-subject-token'];
    const token = version === 'v3' ? (Array.isArray(subject) ? subject[0] : subject) : body.access?.token?.id;
    const expires = version === 'v3' ? body.token?.expires_at : body.access?.token?.expires;
    if (typeof token !== 'string' || token === '') {
      throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered without a token`);
    }
    if (credentials.kind === 'keystoneauth' && !this.options.identityUri) {
      this.catalogEndpoint = identityEndpoint(version === 'v3' ? body.token?.catalog : body.access?.serviceCatalog, this.options, credentials.describe);
    }
    const expiresAt = typeof expires === 'string' ? Date.parse(expires) : NaN;
    this.token = token;
    this.expiresAt = Number.isNaN(expiresAt) ? Date.now() + 10 * 60_000 : expiresAt;
    this.lastOutcome = { ok: true, at: Date.now() };
    return token;
  }
}

/**
 * The identity endpoint in a catalog (v3 or v2 shape): service type identity, the configured interface and,
 * when set, region; without its version suffix (/v3, /v2.0), since requests add their own paths.
 */
export function identityEndpoint(catalog: unknown, options: Pick<ResolvedOptions, 'interface' | 'regionName'>, who: string): string {
  const services = Array.isArray(catalog) ? catalog : [];
  const found: string[] = [];
  for (const service of services as { type?: unknown; endpoints?: unknown }[]) {
    if (service?.type !== 'identity' || !Array.isArray(service.endpoints)) continue;
    for (const endpoint of service.endpoints as Record<string, unknown>[]) {
      const region = endpoint.region_id ?? endpoint.region;
      if (options.regionName && region !== options.regionName) continue;
      const url = endpoint.interface === options.interface ? endpoint.url : endpoint[`${options.interface}URL`];
      if (typeof url === 'string') found.push(url);
    }
  }
  if (found.length === 0) {
    throw new IdentityServerError(
      'ERR_IDENTITY_RESPONSE',
      `the service catalog of ${who} has no identity endpoint with interface ${options.interface}${options.regionName ? ` in region ${options.regionName}` : ''}${services.length === 0 ? ' (the token has no catalog: scope the service user to a project, or set identity_uri)' : ''}; set identity_uri, or interface/region_name`,
    );
  }
  return found[0]!.replace(/\/+$/, '').replace(/\/v(3|2\.0)$/, '');
}
