import type { IncomingMessage } from 'node:http';
import { ConfigError } from '../errors.js';
import { FORGEABLE_HEADERS } from '../token/headers.js';

/**
 * Requests the middleware leaves alone (health checks, public routes): paths (exact strings or regular
 * expressions) and methods, or a function of method and path. The path is the one the framework routes: the
 * request-target without its query, percent-escapes decoded as Fastify decodes them under Fastify, Hono's
 * `c.req.path` under Hono; a target not in normal form (`#`, dot segments, backslashes, `//`, absolute-form) is
 * refused with 400 before `unless` is consulted. Identity headers a client forged are stripped from these requests too.
 */
export type Unless = { path?: (string | RegExp)[]; method?: string[] } | ((request: { method: string; path: string }) => boolean);

/** A checked `unless` option as a predicate (undefined: every request is authenticated). */
export function compileUnless(unless: unknown): ((method: string, path: string) => boolean) | undefined {
  if (unless === undefined) return undefined;
  if (typeof unless === 'function') return (method, path) => Boolean((unless as (r: { method: string; path: string }) => boolean)({ method, path }));
  const spec = unless as { path?: unknown; method?: unknown };
  const paths = spec.path === undefined ? [] : spec.path;
  const methods = spec.method === undefined ? [] : spec.method;
  if (typeof unless !== 'object' || unless === null || !Array.isArray(paths) || !Array.isArray(methods) ||
      !paths.every((p) => typeof p === 'string' || p instanceof RegExp) || !methods.every((m) => typeof m === 'string')) {
    throw new ConfigError('ERR_CONFIG', 'option unless must be { path?: (string | RegExp)[], method?: string[] } or a function ({ method, path }) => boolean');
  }
  const upper = new Set((methods as string[]).map((m) => m.toUpperCase()));
  const exact = new Set(paths.filter((p): p is string => typeof p === 'string'));
  const patterns = paths.filter((p): p is RegExp => p instanceof RegExp);
  return (method, path) => upper.has(method.toUpperCase()) || exact.has(path) || patterns.some((p) => p.test(path));
}

const FORGEABLE = new Set(FORGEABLE_HEADERS);

/**
 * True for a header name (lower-case, as node:http gives it) that a client must not send: one of ours in any
 * spelling where "_" stands for "-" (X_Roles reaches a WSGI/CGI hop, and much Node code, as X-Roles).
 */
export function isForgeable(name: string): boolean {
  const first = name.charCodeAt(0);
  if (first !== 120 /* x */ && first !== 111 /* o */) return false; // most headers are passed over on one character
  return FORGEABLE.has(name.includes('_') ? name.replace(/_/g, '-') : name);
}

/**
 * Removes every identity header the client sent, in every spelling, from req.headers, req.headersDistinct and
 * req.rawHeaders alike. node builds headers and headersDistinct lazily from rawHeaders up to the count it parsed:
 * both are built before rawHeaders gets shorter (a getter reading past its end would throw, answering 500).
 */
export function stripForgeableHeaders(req: IncomingMessage): void {
  let found = false;
  const headers = req.headers;
  for (const name in headers) {
    if (isForgeable(name)) {
      delete headers[name];
      found = true;
    }
  }
  // rawHeaders and headersDistinct hold the same names: only touched when there was something to remove.
  if (found) {
    const distinct = req.headersDistinct as Record<string, string[]> | undefined; // built now, from the full rawHeaders
    if (distinct) for (const name in distinct) if (isForgeable(name)) delete distinct[name];
    const raw = req.rawHeaders;
    const kept: string[] = [];
    for (let i = 0; i < raw.length; i += 2) if (!isForgeable(raw[i]!.toLowerCase())) kept.push(raw[i]!, raw[i + 1]!);
    raw.splice(0, raw.length, ...kept);
  }
}
