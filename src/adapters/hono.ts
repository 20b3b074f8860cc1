import type { AuthTokenOptions } from '../options.js';
import type { RequestHeaders } from '../protocol.js';
import { RequestHandler } from './handler.js';
import { isForgeable } from './core.js';
import { normalPath } from './request-target.js';
import { webHeaderValue } from '../token/headers.js';

/** The parts of Hono's context the middleware uses (structural: no dependency on hono's types). */
interface HonoContextLike {
  req: { raw: Request; method: string; path: string; url: string };
  /** @hono/node-server puts the node request here: its url is the request-target as the client wrote it. */
  env?: unknown;
  set(key: string, value: unknown): void;
  body(data: string, status: number, headers: Record<string, string>): Response;
}

/**
 * keystone-authtoken as Hono middleware: `app.use(keystoneHono(options))`. A Web Request's headers cannot be
 * changed, so the request is replaced by one without the forged identity headers and with the confirmed ones;
 * `c.get('keystone')` holds the identity (`c.get('keystoneError')` under delay_auth_decision). Refused requests
 * are answered 401/503 (with `onError: 'next'`, the error is thrown for `app.onError`). `.close()` stops it.
 * A Web header value is a byte string: identity values outside ASCII are set as their UTF-8 bytes, one character
 * per byte (what a header sent in UTF-8 reads as through Fetch); read them back with
 * `Buffer.from(value, 'latin1').toString('utf8')`, or use `c.get('keystone')`.
 */
export function keystoneHono(options: AuthTokenOptions): ((c: HonoContextLike, next: () => Promise<void>) => Promise<Response | void>) & { handler: RequestHandler; close(): Promise<void> } {
  const handler = new RequestHandler(options);
  const onError = handler.protocol.options.onError;
  const middleware = async (c: HonoContextLike, next: () => Promise<void>) => {
    const headers: RequestHeaders = {};
    let forged = false;
    c.req.raw.headers.forEach((value, name) => {
      if (isForgeable(name)) forged = true;
      else headers[name] = value;
    });
    // Hono routes c.req.path (cut at ? and #, percent-decoded); the target checked for normal form is the one the
    // client wrote when @hono/node-server hands it over (it resolves dot segments with new URL() before Hono sees
    // them), else the Request's URL from its path on.
    const outcome = await handler.handle(headers, c.req.method, () => {
      normalPath(targetOf(c));
      return c.req.path;
    });
    if (outcome.kind === 'refuse') {
      const { status, headers: answer, body, error } = outcome.refusal;
      if (onError === 'next') throw Object.assign(error, { headers: answer });
      return c.body(body, status, answer);
    }
    const identity = outcome.kind === 'pass' ? outcome.headers : {};
    if (forged || Object.keys(identity).length > 0) {
      const clean = new Headers();
      for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') clean.set(name, value);
      for (const [name, value] of Object.entries(identity)) clean.set(name, webHeaderValue(value));
      c.req.raw = new Request(c.req.raw, { headers: clean, duplex: 'half' } as RequestInit);
    }
    if (outcome.kind === 'pass') {
      c.set('keystone', outcome.keystone);
      c.set('keystoneError', outcome.error);
    }
    await next();
  };
  return Object.assign(middleware, { handler, close: () => handler.protocol.close() });
}

function targetOf(c: HonoContextLike): string {
  const incoming = (c.env as { incoming?: { url?: unknown } } | undefined)?.incoming;
  if (incoming && typeof incoming.url === 'string') return incoming.url;
  const url = c.req.url;
  const start = url.indexOf('/', url.indexOf('://') + 3);
  return start === -1 ? '/' : url.slice(start);
}
