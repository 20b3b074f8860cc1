import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import express4 from 'express4';
import express5 from 'express';
import connect from 'connect';
import Fastify from 'fastify';
import Koa from 'koa';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { authToken, keystoneFastify, keystoneHono, keystoneKoa, type AuthTokenOptions } from '../../src/index.js';

/**
 * The same small API behind the middleware in every framework there is an adapter for, each with the framework's
 * own router: GET /admin, GET /whoami, POST /v2/servers/:id and POST /v2/servers/:id/action. Every handler answers
 * JSON naming itself (`handler`), with the identity headers it saw, so a test sees which handler a request-target
 * reached. The node:http app routes on `new URL(req.url, base).pathname`, as many plain servers do.
 */
export interface FrameworkApp {
  name: string;
  port: number;
  close(): Promise<void>;
}

export type FrameworkName = 'express4' | 'express5' | 'connect' | 'node:http' | 'fastify' | 'fastify;' | 'koa' | 'hono';
export const FRAMEWORK_NAMES: FrameworkName[] = ['express4', 'express5', 'connect', 'node:http', 'fastify', 'fastify;', 'koa', 'hono'];

interface Seen {
  handler: string;
  id?: string;
  headers: Record<string, string>;
  distinct?: Record<string, string[]>;
  raw?: string[];
  user?: string | null;
}

function identityHeaders(headers: Record<string, string | string[] | undefined> | Headers): Record<string, string> {
  const seen: Record<string, string> = {};
  const entries = headers instanceof Headers ? [...headers.entries()] : Object.entries(headers);
  for (const [name, value] of entries) if (/^(x[-_]|openstack)/i.test(name) && !/token$/.test(name)) seen[name] = String(value);
  return seen;
}

function nodeSeen(handler: string, request: unknown, id?: string): Seen {
  const req = request as IncomingMessage;
  return { handler, id, headers: identityHeaders(req.headers), distinct: { ...req.headersDistinct } as Record<string, string[]>, raw: [...req.rawHeaders], user: req.keystone?.user.name ?? null };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

const SERVER = /^\/v2\/servers\/([^/]+)$/;
const ACTION = /^\/v2\/servers\/([^/]+)\/action$/;

export async function startFramework(name: FrameworkName, options: AuthTokenOptions): Promise<FrameworkApp> {
  if (name === 'express4' || name === 'express5') {
    const auth = authToken(options);
    const app = (name === 'express4' ? express4 : express5)();
    app.use(auth);
    app.get('/admin', (req, res) => res.json(nodeSeen('admin', req)));
    app.get('/whoami', (req, res) => res.json(nodeSeen('whoami', req)));
    app.post('/v2/servers/:id', (req, res) => res.json(nodeSeen('server', req, req.params.id)));
    app.post('/v2/servers/:id/action', (req, res) => res.json(nodeSeen('action', req, req.params.id)));
    const server = createServer(app as unknown as (req: IncomingMessage, res: ServerResponse) => void);
    const port = await listen(server);
    return { name, port, close: async () => { await closeServer(server); await auth.close(); } };
  }
  if (name === 'connect') {
    const auth = authToken(options);
    const app = connect();
    app.use(auth);
    const send = (res: ServerResponse, seen: Seen) => res.setHeader('content-type', 'application/json').end(JSON.stringify(seen));
    // connect routes by path prefix, on parseurl's pathname; the handlers check the rest themselves.
    app.use('/admin', (req, res) => send(res, nodeSeen('admin', req)));
    app.use('/whoami', (req, res) => send(res, nodeSeen('whoami', req)));
    app.use('/v2/servers', (req, res, next) => {
      const path = (req.url ?? '').split('?')[0]!;
      const action = /^\/([^/]+)\/action$/.exec(path);
      const server = /^\/([^/]+)$/.exec(path);
      if (req.method === 'POST' && action) send(res, nodeSeen('action', req, action[1]));
      else if (req.method === 'POST' && server) send(res, nodeSeen('server', req, server[1]));
      else next();
    });
    const server = createServer(app);
    const port = await listen(server);
    return { name, port, close: async () => { await closeServer(server); await auth.close(); } };
  }
  if (name === 'node:http') {
    const auth = authToken(options);
    const server = createServer((req, res) => auth(req, res, () => {
      let path: string;
      try {
        path = new URL(req.url ?? '/', 'http://localhost').pathname;
      } catch {
        res.statusCode = 400;
        res.end('{"handler":"none"}');
        return;
      }
      let seen: Seen | undefined;
      if (req.method === 'GET' && path === '/admin') seen = nodeSeen('admin', req);
      else if (req.method === 'GET' && path === '/whoami') seen = nodeSeen('whoami', req);
      else if (req.method === 'POST' && ACTION.test(path)) seen = nodeSeen('action', req, ACTION.exec(path)![1]);
      else if (req.method === 'POST' && SERVER.test(path)) seen = nodeSeen('server', req, SERVER.exec(path)![1]);
      res.statusCode = seen ? 200 : 404;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(seen ?? { handler: 'none' }));
    }));
    const port = await listen(server);
    return { name, port, close: async () => { await closeServer(server); await auth.close(); } };
  }
  if (name === 'fastify' || name === 'fastify;') {
    // useSemicolonDelimiter is in Fastify 5's routerOptions schema, not yet in its types.
    const app = Fastify((name === 'fastify;' ? { routerOptions: { useSemicolonDelimiter: true } } : {}) as object);
    await app.register(keystoneFastify, options);
    const user = (request: unknown) => (request as { keystone?: { user: { name: string } } }).keystone?.user.name ?? null;
    app.get('/admin', async (request) => ({ ...nodeSeen('admin', request.raw), user: user(request) }));
    app.get('/whoami', async (request) => ({ ...nodeSeen('whoami', request.raw), user: user(request) }));
    app.post('/v2/servers/:id', async (request) => ({ ...nodeSeen('server', request.raw, (request.params as { id: string }).id), user: user(request) }));
    app.post('/v2/servers/:id/action', async (request) => ({ ...nodeSeen('action', request.raw, (request.params as { id: string }).id), user: user(request) }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { name, port: (app.server.address() as AddressInfo).port, close: () => app.close() };
  }
  if (name === 'koa') {
    const auth = keystoneKoa(options);
    const app = new Koa();
    app.use(auth);
    app.use((ctx) => {
      const path = ctx.path;
      const user = (ctx.state.keystone as { user: { name: string } } | undefined)?.user.name ?? null;
      let seen: Seen | undefined;
      if (ctx.method === 'GET' && path === '/admin') seen = nodeSeen('admin', ctx.req);
      else if (ctx.method === 'GET' && path === '/whoami') seen = nodeSeen('whoami', ctx.req);
      else if (ctx.method === 'POST' && ACTION.test(path)) seen = nodeSeen('action', ctx.req, ACTION.exec(path)![1]);
      else if (ctx.method === 'POST' && SERVER.test(path)) seen = nodeSeen('server', ctx.req, SERVER.exec(path)![1]);
      ctx.status = seen ? 200 : 404;
      ctx.body = seen ? { ...seen, user } : { handler: 'none' };
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return { name, port: (server.address() as AddressInfo).port, close: async () => { await closeServer(server); await auth.close(); } };
  }
  // hono, on @hono/node-server
  const auth = keystoneHono(options);
  const app = new Hono<{ Variables: { keystone?: { user: { name: string } } } }>();
  app.use(auth);
  const seen = (handler: string, c: { req: { raw: Request }; get(key: 'keystone'): { user: { name: string } } | undefined }, id?: string): Seen => ({ handler, id, headers: identityHeaders(c.req.raw.headers), user: c.get('keystone')?.user.name ?? null });
  app.get('/admin', (c) => c.json(seen('admin', c)));
  app.get('/whoami', (c) => c.json(seen('whoami', c)));
  app.post('/v2/servers/:id', (c) => c.json(seen('server', c, c.req.param('id'))));
  app.post('/v2/servers/:id/action', (c) => c.json(seen('action', c, c.req.param('id'))));
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  await new Promise((resolve) => server.once('listening', resolve));
  return { name, port: (server.address() as AddressInfo).port, close: async () => { await closeServer(server); await auth.close(); } };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The JSON body, when it is JSON. */
  json: any;
}

/**
 * Sends a request-target exactly as written (fetch and http clients would drop a fragment, resolve dot
 * segments or refuse a backslash) on a fresh socket, and reads the whole answer (Connection: close).
 */
export function rawRequest(port: number, method: string, target: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split === -1 ? text : text.slice(0, split);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const status = Number(statusLine.split(' ')[1] ?? 0);
      const answer: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) answer[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      let body = split === -1 ? '' : text.slice(split + 4);
      if (/chunked/i.test(answer['transfer-encoding'] ?? '')) body = unchunk(body);
      body = Buffer.from(body, 'latin1').toString('utf8');
      let json: unknown;
      try { json = JSON.parse(body); } catch { json = undefined; }
      resolve({ status, headers: answer, body, json });
    });
    const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    if (method === 'POST') lines.push('Content-Length: 0');
    // write, not end: a half-closed socket makes node drop a request still being decided
    socket.write(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
    socket.setTimeout(120_000, () => socket.destroy());
  });
}

function unchunk(body: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const end = body.indexOf('\r\n', at);
    if (end === -1) return out;
    const size = parseInt(body.slice(at, end), 16);
    if (!size) return out;
    out += body.slice(end + 2, end + 2 + size);
    at = end + 2 + size + 2;
  }
}
