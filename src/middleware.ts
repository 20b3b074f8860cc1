import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KeystoneAuthError } from './errors.js';
import { AuthProtocol, type Decision, type ProtocolStats } from './protocol.js';
import type { AuthTokenOptions } from './options.js';
import type { Identity } from './token/access-info.js';
import { FORGEABLE_HEADERS } from './token/headers.js';

/** What the middleware puts on `req.keystone` for a confirmed request. */
export interface KeystoneContext extends Identity {
  /** The validated X-Service-Token identity, if one was sent. */
  service: Identity | undefined;
}

declare module 'node:http' {
  interface IncomingMessage {
    /** Set by keystone-authtoken on confirmed requests. */
    keystone?: KeystoneContext;
  }
}

type Next = (error?: unknown) => void;

/** A connect/Express middleware function, with the protocol underneath and a way to stop it. */
export interface AuthTokenMiddleware {
  (req: IncomingMessage, res: ServerResponse, next?: Next): void;
  /** The framework-free core, for direct use and diagnostics. */
  readonly protocol: AuthProtocol;
  readonly stats: ProtocolStats;
  /** Stops timers and closes sockets to the identity server and memcached. */
  close(): Promise<void>;
}

const FORGEABLE = new Set(FORGEABLE_HEADERS);

/** Removes every identity header the client sent (in req.headers and req.rawHeaders). */
export function stripForgeableHeaders(req: IncomingMessage): void {
  let found = false;
  for (const name in req.headers) {
    if (FORGEABLE.has(name)) {
      delete req.headers[name];
      found = true;
    }
  }
  // rawHeaders holds the same names: only rewrite it when there was something to remove.
  if (found) {
    const raw = req.rawHeaders;
    const kept: string[] = [];
    for (let i = 0; i < raw.length; i += 2) if (!FORGEABLE.has(raw[i]!.toLowerCase())) kept.push(raw[i]!, raw[i + 1]!);
    raw.splice(0, raw.length, ...kept);
  }
}

function respond(res: ServerResponse, status: number, error: KeystoneAuthError, wwwAuthenticate: string): void {
  const body = JSON.stringify({
    error: {
      code: status,
      title: status === 401 ? 'Unauthorized' : 'Service Unavailable',
      message: status === 401 ? 'The request you have made requires authentication.' : 'The identity service is temporarily unavailable.',
      reason: error.code,
    },
  });
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  if (status === 401) res.setHeader('www-authenticate', wwwAuthenticate);
  if (status === 503) res.setHeader('retry-after', '5');
  res.end(body);
}

/**
 * The auth_token middleware for Express 4/5, connect, or plain node:http ((req, res, next) or (req, res)).
 * Strips forged identity headers, validates X-Auth-Token (and X-Service-Token), sets the identity headers and
 * `req.keystone`, or answers 401 with WWW-Authenticate (503 when the identity server is needed and down).
 * With delay_auth_decision, invalid requests go on with X-Identity-Status: Invalid.
 */
export function authToken(options: AuthTokenOptions): AuthTokenMiddleware {
  const protocol = new AuthProtocol(options);
  const delay = protocol.options.delayAuthDecision;
  const wwwAuthenticate = `Keystone uri='${protocol.options.wwwAuthenticateUri}'`;

  const apply = (req: IncomingMessage, res: ServerResponse, next: Next | undefined, decision: Decision) => {
    const headers = decision.headers;
    for (const name in headers) req.headers[name] = headers[name];
    if (decision.status !== 'confirmed' && !delay) {
      respond(res, decision.status === 'unavailable' ? 503 : 401, decision.error, wwwAuthenticate);
      return;
    }
    // Confirmed, or deferred with delay_auth_decision: a valid user token is described even if the service token was not.
    if (decision.identity) req.keystone = { ...decision.identity, service: decision.service };
    next?.();
  };

  const middleware = ((req: IncomingMessage, res: ServerResponse, next?: Next) => {
    stripForgeableHeaders(req);
    delete req.keystone;
    protocol.validate(req.headers).then(
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
    close: { value: () => protocol.close() },
  });
  return middleware;
}
