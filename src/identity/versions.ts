import { IdentityServerError } from '../errors.js';
import { parseJsonResponse, type IdentityClient } from './client.js';

export type ApiVersion = 'v2.0' | 'v3';

/** The paths each API version uses. */
export const PATHS: Record<ApiVersion, { signingCert: string; caCert: string; revoked: string; authTokens: string }> = {
  'v2.0': { signingCert: '/v2.0/certificates/signing', caCert: '/v2.0/certificates/ca', revoked: '/v2.0/tokens/revoked', authTokens: '/v2.0/tokens' },
  v3: { signingCert: '/v3/OS-SIMPLE-CERT/certificates', caCert: '/v3/OS-SIMPLE-CERT/ca', revoked: '/v3/auth/tokens/OS-PKI/revoked', authTokens: '/v3/auth/tokens' },
};

/**
 * auth_version as configured, else discovered once from `GET {identity_uri}/` (a 300 with a versions list),
 * preferring v3. A failed discovery is retried on the next call, never cached.
 */
export class VersionDiscovery {
  private version: ApiVersion | undefined;
  private inFlight: Promise<ApiVersion> | undefined;

  constructor(private readonly client: IdentityClient, configured: ApiVersion | undefined) {
    this.version = configured;
  }

  get known(): ApiVersion | undefined {
    return this.version;
  }

  resolve(): Promise<ApiVersion> {
    if (this.version) return Promise.resolve(this.version);
    this.inFlight ??= this.discover().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async discover(): Promise<ApiVersion> {
    const response = await this.client.request({ path: '/', label: 'GET / (version discovery)' });
    if (response.status !== 300 && response.status !== 200) {
      const { what } = this.client.describeEndpoint();
      const advice = this.client.fromCatalog && response.status === 404
        ? 'a catalog endpoint often serves only its versioned path (e.g. .../v3): set auth_version = v3 to skip discovery, or identity_uri'
        : 'set auth_version to skip discovery';
      throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `version discovery GET / at ${what} answered ${response.status}; ${advice}`);
    }
    const body = parseJsonResponse(response, 'version discovery') as { versions?: { values?: { id?: unknown; status?: unknown }[] }; version?: { id?: unknown } };
    const ids = (body.versions?.values ?? (body.version ? [body.version] : []))
      .map((v) => (typeof v?.id === 'string' ? v.id : ''))
      .filter(Boolean);
    if (ids.some((id) => id.startsWith('v3'))) this.version = 'v3';
    else if (ids.some((id) => id.startsWith('v2'))) this.version = 'v2.0';
    else throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `version discovery found no v2.0 or v3 API at ${this.client.describeEndpoint().what} (saw ${ids.join(', ') || 'nothing'}); set auth_version`);
    return this.version;
  }
}
