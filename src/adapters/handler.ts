import { RequestPathError, type KeystoneAuthError } from '../errors.js';
import type { AuthTokenOptions } from '../options.js';
import { AuthProtocol, type RequestHeaders } from '../protocol.js';
import { compileUnless } from './core.js';
import { keystoneContext, pathRefusal, refusalOf, type KeystoneContext, type Refusal } from './refusal.js';
import { bearerRefusal, decideBearer } from '../oauth2/bearer.js';

/** What a framework adapter does with one request. */
export type Outcome =
  | { kind: 'skip' }
  | { kind: 'pass'; headers: Record<string, string>; keystone: KeystoneContext | undefined; error: KeystoneAuthError | undefined }
  | { kind: 'refuse'; refusal: Refusal };

/**
 * The framework-free request handling shared by the Fastify, Koa and Hono adapters (Express/connect has its own,
 * synchronous on cache hits): strip forged identity headers, refuse a request-target not in normal form (400),
 * honour `unless`, decide, and say whether to go on (with the identity headers and context to set) or answer
 * (400/401/503, or next(err) where the framework has it).
 */
export class RequestHandler {
  readonly protocol: AuthProtocol;
  private readonly skip: ((method: string, path: string) => boolean) | undefined;

  constructor(options: AuthTokenOptions) {
    this.protocol = new AuthProtocol(options);
    this.skip = compileUnless(options.unless);
  }

  /** `routedPath`: the path the framework routes (throws RequestPathError for a target not in normal form). */
  async handle(headers: RequestHeaders, method: string, routedPath: () => string): Promise<Outcome> {
    let path: string;
    try {
      path = routedPath();
    } catch (error) {
      if (!(error instanceof RequestPathError)) throw error;
      return { kind: 'refuse', refusal: pathRefusal(error, this.protocol.options.exposeReason) };
    }
    if (this.skip?.(method, path)) return { kind: 'skip' };
    const { delayAuthDecision, exposeReason, wwwAuthenticateUri, tokenSource } = this.protocol.options;
    const bearer = tokenSource === 'bearer';
    const decision = await (bearer ? decideBearer(this.protocol, headers, { method, path }) : this.protocol.decide(headers, { method, path }));
    if (decision.status !== 'confirmed' && !delayAuthDecision) return { kind: 'refuse', refusal: (bearer ? bearerRefusal : refusalOf)(decision, wwwAuthenticateUri, exposeReason) };
    return {
      kind: 'pass',
      headers: decision.headers,
      keystone: decision.identity && keystoneContext(decision.identity, decision.service),
      error: decision.status === 'confirmed' ? undefined : decision.error,
    };
  }
}
