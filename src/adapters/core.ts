import type { IncomingMessage } from 'node:http';
import { ConfigError } from '../errors.js';
import { FORGEABLE_HEADERS } from '../token/headers.js';

/**
 * Requests the middleware leaves alone (health checks, public routes): paths (exact strings or regular
 * expressions, matched against the path without query) and methods, or a function of method and path. Identity
 * headers a client forged are stripped from these requests too.
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

/** The path of a URL (what access rules and `unless` are matched against), without the query. */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
