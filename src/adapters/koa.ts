import type { IncomingMessage } from 'node:http';
import type { AuthTokenOptions } from '../options.js';
import { RequestHandler } from './handler.js';
import { stripForgeableHeaders } from './core.js';
import { normalPath } from './request-target.js';

/** The parts of Koa's context the middleware uses (structural: no dependency on koa's types). */
interface KoaContextLike {
  req: IncomingMessage;
  method: string;
  url: string;
  status: number;
  body: unknown;
  state: Record<string, unknown>;
  set(field: Record<string, string>): void;
}

/**
 * keystone-authtoken as Koa middleware: `app.use(keystoneKoa(options))`. Confirmed requests get the identity
 * headers and `ctx.state.keystone`; refused ones are answered 401/503 (with `onError: 'next'`, the error is
 * thrown for Koa's error handling: it has `status`, `expose` false and `headers`); `ctx.state.keystoneError`
 * under delay_auth_decision. `.close()` stops the protocol's timers and sockets.
 */
export function keystoneKoa(options: AuthTokenOptions): ((ctx: KoaContextLike, next: () => Promise<unknown>) => Promise<void>) & { handler: RequestHandler; close(): Promise<void> } {
  const handler = new RequestHandler(options);
  const onError = handler.protocol.options.onError;
  const middleware = async (ctx: KoaContextLike, next: () => Promise<unknown>) => {
    const headers = ctx.req.headers;
    stripForgeableHeaders(ctx.req); // headers and rawHeaders
    // Koa and its routers route ctx.path, parseurl's pathname of ctx.url: on a target in normal form, the path as
    // written. ctx.url, not ctx.originalUrl: under koa-mount (or a rewrite) ctx.url is what is routed.
    const outcome = await handler.handle(headers, ctx.method, () => normalPath(ctx.url));
    if (outcome.kind === 'refuse') {
      const { status, headers: answer, body, error } = outcome.refusal;
      if (onError === 'next') throw Object.assign(error, { expose: false, headers: answer });
      ctx.status = status;
      ctx.set(answer);
      ctx.body = body;
      return;
    }
    if (outcome.kind === 'pass') {
      for (const name in outcome.headers) headers[name] = outcome.headers[name];
      ctx.state.keystone = outcome.keystone;
      ctx.state.keystoneError = outcome.error;
    }
    await next();
  };
  return Object.assign(middleware, { handler, close: () => handler.protocol.close() });
}
