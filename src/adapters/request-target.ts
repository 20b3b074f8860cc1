import { RequestPathError } from '../errors.js';

/**
 * How a framework turns the request-target into the path it routes on, past the normal-form check that every
 * adapter applies first:
 * - `raw`: the path as written, cut at `?` (Express 4/5 and connect through parseurl, Koa's `ctx.path`, a plain
 *   node:http app: on a target in normal form, parseurl's and `new URL()`'s pathname are that same string);
 * - `find-my-way`: Fastify's router, which also cuts at `;` when `useSemicolonDelimiter` is set and then decodes
 *   percent-escapes with decodeURI (so `%2F`, `%3F`, `%23`, ... stay encoded and `%25` stays `%25`).
 */
export type PathRouting = { kind: 'raw' } | { kind: 'find-my-way'; semicolonDelimiter: boolean };

export const RAW_ROUTING: PathRouting = { kind: 'raw' };

/**
 * The path of an origin-form request-target (`/a/b?q`) without its query, or a RequestPathError when the target
 * is not in normal form: then frameworks route another path than the one written, and nothing matched against
 * the written one (`unless`, access rules) can be trusted. Refused:
 * - anything but origin-form: absolute-form (`http://host/admin`, routed on `/admin` by parseurl and
 *   find-my-way), asterisk-form (`*`), authority-form;
 * - a fragment `#` anywhere (parseurl, find-my-way and Hono cut the path there);
 * - a character outside printable ASCII (clients percent-encode them; `new URL()` would, differently);
 * - a backslash, raw or `%5C` (`new URL()` reads `\` as `/`; Windows file servers too);
 * - a dot segment `.` or `..`, also percent-encoded (`%2e`, `.%2E`), also before a `;` parameter (`..;x`);
 * - an empty segment (`//`: `new URL('//admin', base)` is another host; find-my-way may merge them);
 * - an encoded slash `%2F` that, decoded, makes one of the above (`..%2F`, `%2F%2F`): some hop may decode it;
 * - a malformed percent-escape (`%zz`, `%4`).
 * A trailing slash (`/admin/`) is an empty last segment and allowed. The query is not examined beyond `#`.
 */
export function normalPath(target: string): string {
  if (target.charCodeAt(0) !== 0x2f /* / */) {
    throw new RequestPathError(target === '*' ? 'asterisk-form request-target (*) refused' : 'request-target not in origin-form (absolute-form or authority-form) refused');
  }
  const query = target.indexOf('?');
  const path = query === -1 ? target : target.slice(0, query);
  if (target.indexOf('#', path.length) !== -1) throw new RequestPathError('request-target with a fragment (#) refused');
  let encoded = false; // %2E, %2F or %5C: checked again below on the decoded segments
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) throw new RequestPathError('request path with a character outside printable ASCII refused (percent-encode it)');
    if (c === 0x2f /* / */) {
      const next = path.charCodeAt(i + 1);
      if (next === 0x2f) throw new RequestPathError('request path with an empty segment (//) refused');
      if (next === 0x2e /* . */ && isDotSegment(path, i + 1)) throw new RequestPathError('request path with a dot segment (., .., or percent-encoded) refused');
    } else if (c === 0x25 /* % */) {
      const high = path.charCodeAt(i + 1);
      const low = path.charCodeAt(i + 2);
      if (!isHex(high) || !isHex(low)) throw new RequestPathError('request path with a malformed percent-escape refused');
      const lower = low | 0x20;
      if ((high === 0x32 && (lower === 0x65 /* e */ || lower === 0x66 /* f */)) || (high === 0x35 && lower === 0x63 /* c */)) encoded = true;
      i += 2;
    } else if (c === 0x23 /* # */) throw new RequestPathError('request-target with a fragment (#) refused');
    else if (c === 0x5c /* \ */) throw new RequestPathError('request path with a backslash refused');
  }
  if (!encoded) return path;
  // %2E is ".", %2F "/" and %5C "\" to whatever decodes them: the segments must be normal that way too.
  const decoded = path.replace(/%(2[EeFf]|5[Cc])/g, (escape) => String.fromCharCode(parseInt(escape.slice(1), 16)));
  if (decoded.includes('\\')) throw new RequestPathError('request path with an encoded backslash (%5C) refused');
  const segments = decoded.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const bare = segment.includes(';') ? segment.slice(0, segment.indexOf(';')) : segment;
    if (bare === '.' || bare === '..') throw new RequestPathError('request path with a dot segment (., .., or percent-encoded) refused');
    if (segment === '' && i < segments.length - 1) throw new RequestPathError('request path with an empty segment (an encoded // ) refused');
  }
  return path;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

/** A segment starting at `at` (just after a "/") that is "." or "..", alone or before a ";" parameter. */
function isDotSegment(path: string, at: number): boolean {
  let end = at + 1;
  if (path.charCodeAt(end) === 0x2e) end++;
  return end === path.length || path.charCodeAt(end) === 0x2f || path.charCodeAt(end) === 0x3b /* ; */;
}

/**
 * The path a framework routes for a request-target (see PathRouting), after normalPath's refusals: what `unless`
 * and access rules are matched against.
 */
export function routedPath(target: string, routing: PathRouting = RAW_ROUTING): string {
  let path = normalPath(target);
  if (routing.kind === 'raw') return path;
  if (routing.semicolonDelimiter) {
    const semicolon = path.indexOf(';');
    if (semicolon !== -1) path = path.slice(0, semicolon);
  }
  if (!path.includes('%')) return path;
  try {
    // find-my-way's safeDecodeURI: %25 is kept as %25, reserved characters stay encoded (decodeURI keeps them).
    return decodeURI(path.replace(/%25/g, '%2525'));
  } catch {
    throw new RequestPathError('request path whose percent-escapes are not UTF-8 refused');
  }
}
