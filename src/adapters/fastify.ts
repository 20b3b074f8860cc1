import type { IncomingMessage } from 'node:http';
import type { AuthTokenOptions } from '../options.js';
import { RequestHandler } from './handler.js';
import { stripForgeableHeaders } from './core.js';
import { routedPath, type PathRouting } from './request-target.js';

/** The parts of Fastify the plugin uses (structural: no dependency on fastify's types). */
interface FastifyLike {
  decorateRequest(name: string, value: unknown): unknown;
  addHook(name: 'onRequest', hook: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>): unknown;
  addHook(name: 'onClose', hook: () => Promise<void>): unknown;
  readonly initialConfig?: object;
}
interface FastifyRequestLike {
  raw: IncomingMessage;
  method: string;
  url: string;
  keystone?: unknown;
  keystoneError?: unknown;
}
interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(payload: string): unknown;
}

/**
 * keystone-authtoken as a Fastify plugin (an onRequest hook, not encapsulated, so it guards the routes registered
 * beside it): `await app.register(keystoneFastify, options)`. Confirmed requests get the identity headers and
 * `request.keystone`; refused ones are answered 401/503 (with `onError: 'next'`, the error is thrown to Fastify's
 * error handler instead); `request.keystoneError` under delay_auth_decision. Closing the app closes the protocol.
 */
export async function keystoneFastify(fastify: FastifyLike, options: AuthTokenOptions): Promise<void> {
  const handler = new RequestHandler(options);
  const onError = handler.protocol.options.onError;
  // find-my-way cuts the path at ';' too when useSemicolonDelimiter is set (top level, or routerOptions in Fastify 5).
  const config = fastify.initialConfig as { useSemicolonDelimiter?: unknown; routerOptions?: { useSemicolonDelimiter?: unknown } } | undefined;
  const routing: PathRouting = { kind: 'find-my-way', semicolonDelimiter: config?.routerOptions?.useSemicolonDelimiter === true || config?.useSemicolonDelimiter === true };
  fastify.decorateRequest('keystone', undefined);
  fastify.decorateRequest('keystoneError', undefined);
  fastify.addHook('onRequest', async (request, reply) => {
    const headers = request.raw.headers;
    stripForgeableHeaders(request.raw); // headers and rawHeaders
    // request.url is what find-my-way routed (after any rewriteUrl).
    const outcome = await handler.handle(headers, request.method, () => routedPath(request.url, routing));
    if (outcome.kind === 'skip') return;
    if (outcome.kind === 'refuse') {
      const { status, headers: answer, body, error } = outcome.refusal;
      if (onError === 'next') throw Object.assign(error, { statusCode: status, headers: answer });
      return reply.code(status).headers(answer).send(body);
    }
    for (const name in outcome.headers) headers[name] = outcome.headers[name];
    request.keystone = outcome.keystone;
    request.keystoneError = outcome.error;
  });
  fastify.addHook('onClose', () => handler.protocol.close());
}
// fastify-plugin's two markers, without the dependency: not encapsulated, and a name in errors.
Object.assign(keystoneFastify, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'keystone-authtoken' });
