import type { IncomingMessage, ServerResponse } from 'node:http';
import { RequestPathError, type KeystoneAuthError } from './errors.js';
import { AuthProtocol, type Decision, type Health, type ProtocolStats } from './protocol.js';
import type { AuthTokenOptions } from './options.js';
import { keystoneContext, pathRefusal, refusalOf, type KeystoneContext, type Refusal } from './adapters/refusal.js';
import { compileUnless, stripForgeableHeaders } from './adapters/core.js';
import { normalPath } from './adapters/request-target.js';
import { bearerRefusal, decideBearer } from './oauth2/bearer.js';

export { stripForgeableHeaders };

export type { KeystoneContext } from './adapters/refusal.js';

declare module 'node:http' {
  interface IncomingMessage {
    /** Set by keystone-authtoken on confirmed requests. */
    keystone?: KeystoneContext;
    /** Set by keystone-authtoken under delay_auth_decision on refused requests: why (code, status, message). */
    keystoneError?: KeystoneAuthError;
  }
}

type Next = (error?: unknown) => void;

/** A connect/Express middleware function, with the protocol underneath and a way to stop it. */
export interface AuthTokenMiddleware {
  (req: IncomingMessage, res: ServerResponse, next?: Next): void;
  /** The framework-free core, for direct use and diagnostics. */
  readonly protocol: AuthProtocol;
  readonly stats: ProtocolStats;
  /** Resolves when requests can be decided (credentials, identity server, certificates); rejects with the typed error. */
  ready(): Promise<void>;
  /** A snapshot for a health endpoint. */
  health(): Health;
  /** Stops timers and closes sockets to the identity server and memcached. */
  close(): Promise<void>;
}

/**
 * The path of the request as the client sent it (Express rewrites req.url under a mount point), without the
 * query: what Express 4/5, connect (parseurl) and `new URL()` route on once the target is in normal form.
 * Throws RequestPathError otherwise.
 */
function requestPath(req: IncomingMessage): string {
  return normalPath((req as { originalUrl?: string }).originalUrl ?? req.url ?? '');
}

function respond(res: ServerResponse, refusal: Refusal): void {
  res.statusCode = refusal.status;
  for (const [name, value] of Object.entries(refusal.headers)) res.setHeader(name, value);
  res.setHeader('content-length', Buffer.byteLength(refusal.body));
  res.end(refusal.body);
}

/**
 * The auth_token middleware for Express 4/5, connect, or plain node:http ((req, res, next) or (req, res)).
 * Strips forged identity headers, validates X-Auth-Token (and X-Service-Token), sets the identity headers and
 * `req.keystone`, or answers 401 with WWW-Authenticate (503 when the identity server is needed and down).
 * With delay_auth_decision, invalid requests go on with X-Identity-Status: Invalid.
 */
export function authToken(options: AuthTokenOptions): AuthTokenMiddleware {
  const protocol = new AuthProtocol(options);
  const { delayAuthDecision: delay, onError, exposeReason, wwwAuthenticateUri, tokenSource } = protocol.options;
  const bearer = tokenSource === 'bearer';
  const skip = compileUnless(options.unless);
  const remoteUserOf = options.remoteUser;
  const remoteUser = (req: IncomingMessage): string | undefined => {
    try {
      const user = remoteUserOf!(req);
      return typeof user === 'string' && user !== '' ? user : undefined;
    } catch (error) {
      protocol.logger.error({ error: String(error) }, 'the remoteUser option threw; the request has no Kerberos principal');
      return undefined; // a Kerberos-bound token is then refused: fail closed
    }
  };

  const apply = (req: IncomingMessage, res: ServerResponse, next: Next | undefined, decision: Decision) => {
    const headers = decision.headers;
    Object.assign(req.headers, headers);
    if (decision.status !== 'confirmed') {
      if (delay) req.keystoneError = decision.error;
      else {
        const refusal = (bearer ? bearerRefusal : refusalOf)(decision, wwwAuthenticateUri, exposeReason);
        // onError 'next': the application answers (problem+json, CORS, request ids); the error carries
        // status, code, and the headers the answer needs (WWW-Authenticate or Retry-After).
        if (onError === 'next' && next) next(Object.assign(refusal.error, { headers: refusal.headers }));
        else respond(res, refusal);
        return;
      }
    }
    // Confirmed, or deferred with delay_auth_decision: a valid user token is described even if the service token was not.
    if (decision.identity) req.keystone = keystoneContext(decision.identity, decision.service);
    next?.();
  };

  const middleware = ((req: IncomingMessage, res: ServerResponse, next?: Next) => {
    stripForgeableHeaders(req);
    if (req.keystone !== undefined) delete req.keystone;
    if (req.keystoneError !== undefined) delete req.keystoneError;
    let path: string;
    try {
      path = requestPath(req);
    } catch (error) {
      if (!(error instanceof RequestPathError)) throw error;
      // Refused before unless and whatever delay_auth_decision says: the path the app routes is not known.
      const refusal = pathRefusal(error, exposeReason);
      if (onError === 'next' && next) next(Object.assign(error, { headers: refusal.headers }));
      else respond(res, refusal);
      return;
    }
    if (skip?.(req.method ?? 'GET', path)) {
      next?.();
      return;
    }
    // Cache hits are decided synchronously; anything else comes back as a promise.
    const context = {
      remoteUser: remoteUserOf ? remoteUser(req) : undefined,
      method: req.method,
      path,
    };
    const decided = bearer ? decideBearer(protocol, req.headers, context) : protocol.decide(req.headers, context);
    if (!(decided instanceof Promise)) {
      apply(req, res, next, decided);
      return;
    }
    decided.then(
      (decision) => apply(req, res, next, decision),
      (error: unknown) => {
        // validate() turns every failure into a decision; this is a bug guard that fails closed.
        protocol.logger.error({ error: String(error) }, 'keystone-authtoken internal error');
        if (!res.headersSent) {
          res.statusCode = 500;
          res.end();
        }
      },
    );
  }) as AuthTokenMiddleware;
  Object.defineProperties(middleware, {
    protocol: { value: protocol },
    stats: { get: () => protocol.stats },
    ready: { value: () => protocol.ready() },
    health: { value: () => protocol.health() },
    close: { value: () => protocol.close() },
  });
  return middleware;
}

/**
 * keystonemiddleware's oauth2_token filter for Express 4/5, connect or node:http: as authToken, but the token is an
 * OAuth2 client-credentials access token read from `Authorization: Bearer <token>` only (Keystone issues them at
 * POST /v3/OS-OAUTH2/token to application credentials). Same options, cache, revocation checks and errors;
 * refusals carry an RFC 6750 `Bearer` challenge. The same as `authToken({ ...options, tokenSource: 'bearer' })`.
 */
export function oauth2Token(options: AuthTokenOptions): AuthTokenMiddleware {
  return authToken({ ...options, tokenSource: 'bearer' });
}
