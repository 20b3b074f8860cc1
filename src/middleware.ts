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

/**
 * True for a header name (lower-case, as node:http gives it) that a client must not send: one of ours in any
 * spelling where "_" stands for "-" (X_Roles reaches a WSGI/CGI hop, and much Node code, as X-Roles).
 */
function isForgeable(name: string): boolean {
  const first = name.charCodeAt(0);
  if (first !== 120 /* x */ && first !== 111 /* o */) return false; // most headers are passed over on one character
  return FORGEABLE.has(name.includes('_') ? name.replace(/_/g, '-') : name);
}

/** Removes every identity header the client sent (in req.headers and req.rawHeaders), in every spelling. */
export function stripForgeableHeaders(req: IncomingMessage): void {
  let found = false;
  const headers = req.headers;
  for (const name in headers) {
    if (isForgeable(name)) {
      delete headers[name];
      found = true;
    }
  }
  // rawHeaders holds the same names: only rewrite it when there was something to remove.
  if (found) {
    const raw = req.rawHeaders;
    const kept: string[] = [];
    for (let i = 0; i < raw.length; i += 2) if (!isForgeable(raw[i]!.toLowerCase())) kept.push(raw[i]!, raw[i + 1]!);
    raw.splice(0, raw.length, ...kept);
  }
}

/**
 * req.keystone: a fresh object per request (an app may add to its own), over the cached identity, whose objects
 * and arrays are frozen; its Dates are copies, since a Date cannot be frozen.
 */
function keystoneContext(identity: Identity, service: Identity | undefined): KeystoneContext {
  return { ...identityView(identity), service: service && identityView(service) };
}

/** One fixed shape (faster to build than a spread of the cached object). */
function identityView(identity: Identity): Identity {
  return {
    version: identity.version,
    user: identity.user,
    project: identity.project,
    domain: identity.domain,
    roles: identity.roles,
    roleIds: identity.roleIds,
    expiresAt: new Date(identity.expiresAt.getTime()),
    issuedAt: identity.issuedAt && new Date(identity.issuedAt.getTime()),
    auditIds: identity.auditIds,
    catalog: identity.catalog,
    bind: identity.bind,
    isAdminProject: identity.isAdminProject,
    system: identity.system,
    accessRules: identity.accessRules,
    body: identity.body,
  };
}

/** The path of the request as the client sent it (Express rewrites req.url under a mount point), without the query. */
function requestPath(req: IncomingMessage): string {
  const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
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
  if (status === 503) res.setHeader('retry-after', String((error as { retryAfterSeconds?: number }).retryAfterSeconds ?? 5));
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
  // Double-quoted, as keystonemiddleware writes it since upstream bug 1762362 (RFC 7235 quoted-string).
  const wwwAuthenticate = `Keystone uri="${protocol.options.wwwAuthenticateUri.replace(/["\\]/g, '\\$&')}"`;
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
    for (const name in headers) req.headers[name] = headers[name];
    if (decision.status !== 'confirmed' && !delay) {
      respond(res, decision.status === 'unavailable' ? 503 : 401, decision.error, wwwAuthenticate);
      return;
    }
    // Confirmed, or deferred with delay_auth_decision: a valid user token is described even if the service token was not.
    if (decision.identity) req.keystone = keystoneContext(decision.identity, decision.service);
    next?.();
  };

  const middleware = ((req: IncomingMessage, res: ServerResponse, next?: Next) => {
    stripForgeableHeaders(req);
    if (req.keystone !== undefined) delete req.keystone;
    // Cache hits are decided synchronously; anything else comes back as a promise.
    const decided = protocol.decide(req.headers, {
      remoteUser: remoteUserOf ? remoteUser(req) : undefined,
      method: req.method,
      path: requestPath(req),
    });
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
    close: { value: () => protocol.close() },
  });
  return middleware;
}
