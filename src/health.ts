import { IdentityServerError, TokenRejectedError } from './errors.js';
import type { AdminToken } from './identity/admin-token.js';
import type { IdentityClient } from './identity/client.js';
import type { VersionDiscovery } from './identity/versions.js';
import type { Logger } from './logger.js';
import type { TokenValidator, Validated } from './validators/validator.js';

/** How online validation (GET /v3/auth/tokens) fares, for health(). */
export interface ValidationHealth {
  /**
   * ok: the last online validation was answered (the token valid, or unknown to a working endpoint);
   * failing: the identity server refuses the service user's token (403: the service role is missing), or the
   * validation endpoint answers 404 even for the service user's own token (not Keystone's endpoint);
   * unknown: no online token validated yet.
   */
  state: 'ok' | 'failing' | 'unknown';
  lastCheckedAt: string | undefined;
  lastError: string | undefined;
}

const SELF_CHECK_INTERVAL_MS = 30_000;

/**
 * The online validator, watched: refusals of the service user (ERR_IDENTITY_AUTH) are remembered, and a 404 (the
 * token is unknown) is checked once in a while off the request path by validating the service user's own token,
 * which a working Keystone always knows: if that is a 404 too, the endpoint is wrong (a catalog entry or
 * identity_uri that is not Keystone's), and every online token is being refused for it.
 */
export class MonitoredValidator implements TokenValidator {
  private state: ValidationHealth['state'] = 'unknown';
  private at = 0;
  private error: string | undefined;
  private lastSelfCheck = 0;

  constructor(
    private readonly inner: TokenValidator,
    private readonly deps: { client: IdentityClient; versions: VersionDiscovery; adminToken: AdminToken; logger: Logger },
  ) {}

  async validate(token: string, hashes: readonly string[], options: { allowExpired: boolean }): Promise<Validated> {
    try {
      const validated = await this.inner.validate(token, hashes, options);
      this.record('ok');
      return validated;
    } catch (error) {
      if (error instanceof IdentityServerError && error.code === 'ERR_IDENTITY_AUTH') this.record('failing', error.message);
      else if (error instanceof TokenRejectedError && error.code === 'ERR_TOKEN_INVALID') this.selfCheck();
      throw error;
    }
  }

  get health(): ValidationHealth {
    return { state: this.state, lastCheckedAt: this.at ? new Date(this.at).toISOString() : undefined, lastError: this.error };
  }

  private record(state: ValidationHealth['state'], error?: string): void {
    this.state = state;
    this.at = Date.now();
    this.error = error;
  }

  /** Validates the service user's own token (a token may always validate itself), at most every 30 s. */
  private selfCheck(): void {
    const now = Date.now();
    if (now - this.lastSelfCheck < SELF_CHECK_INTERVAL_MS || !this.deps.adminToken.configured) return;
    this.lastSelfCheck = now;
    const { client, versions, adminToken } = this.deps;
    const run = async () => {
      if ((await versions.resolve()) !== 'v3') return;
      const own = await adminToken.get();
      const response = await client.request({ path: '/v3/auth/tokens', headers: { 'x-auth-token': own, 'x-subject-token': own }, label: 'GET /v3/auth/tokens (health: the service user\'s own token)' });
      if (response.status === 200) this.record('ok');
      else if (response.status === 404) {
        const message = `the validation endpoint ${client.baseUrl}/v3/auth/tokens answers 404 even for the service user's own token: it is not Keystone's; every online token gets 401. Check identity_uri, or interface and region_name (the catalog's identity endpoint)`;
        this.record('failing', message);
        this.deps.logger.error({ endpoint: client.baseUrl }, message);
      }
    };
    run().catch(() => {}); // an outage is the identity server's state, reported beside this one
  }
}
