#!/usr/bin/env node
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfigDetailed } from '../config-file.js';
import { ConfigError } from '../errors.js';
import { editDistance, OPTION_DECLARATIONS, type AuthTokenOptions } from '../options.js';
import { renderChecklist } from './checks.js';
import { safeJson, terminalSafe } from './terminal-text.js';
import { runDoctor } from './doctor.js';
import { inspectToken, renderInspection } from './inspect.js';

const DOCTOR_USAGE = `usage: keystone-authtoken doctor [--config FILE [--section NAME]] [--<option> VALUE ...] [--token TOKEN | --token -] [--fix] [--json]

Runs the operators' checklist (options, signing_dir, files, identity server, certificates, service
credentials, revocation list, and optionally one token); exits 0 when nothing failed, 1 otherwise.
--fix creates signing_dir and replaces stale or unparseable certificate files with the served ones.
Any keystone_authtoken option can be given as a flag: --identity-uri URL, --signing-dir DIR, --auth-url URL, ...
Secrets need not be on the command line (where ps shows them): KEYSTONE_AUTHTOKEN_PASSWORD, and likewise
KEYSTONE_AUTHTOKEN_ADMIN_PASSWORD, _APPLICATION_CREDENTIAL_SECRET, _ADMIN_TOKEN, _TOKEN (auth_type v3token), _MEMCACHE_SECRET_KEY,
set the option of that name (a flag wins over the variable, the variable over --config).
--token checks one token: PKI/PKIZ offline, Fernet/JWS/UUID online with the service credentials.`;

const INSPECT_USAGE = `usage: keystone-authtoken inspect [TOKEN | -] [--signing-dir DIR | --signing-cert FILE --ca FILE] [--json]

Describes a token offline and verifies it when given certificates: PKI/PKIZ (hashes, CMS details, body);
Fernet (creation time), JWS (header and payload: subject, scope, methods, audit ids, expiry) and UUID tokens are
told apart and what they show without keys is printed, labelled unverified.
--json prints stable camelCase keys with plain values.`;

const USAGE = `usage:
  keystone-authtoken doctor ...      the operators' checklist (keystone-authtoken doctor --help)
  keystone-authtoken inspect ...     a token, offline (keystone-authtoken inspect --help)
  keystone-authtoken --version

Colours only on a terminal Node says has them: never with NO_COLOR, TERM=dumb or an unnamed CI set.`;

class UsageError extends Error {
  constructor(message: string, readonly usage = USAGE) {
    super(message);
  }
}

const COMMON = { help: { type: 'boolean' }, json: { type: 'boolean' } } as const;
const DOCTOR_OPTIONS: ParseArgsConfig['options'] = {
  ...COMMON,
  config: { type: 'string' },
  section: { type: 'string' },
  token: { type: 'string' },
  fix: { type: 'boolean' },
  ...Object.fromEntries(OPTION_DECLARATIONS.filter((d) => d.name !== 'token').map((d) => [d.name.replace(/_/g, '-'), { type: 'string' as const }])),
};
const INSPECT_OPTIONS: ParseArgsConfig['options'] = {
  ...COMMON,
  token: { type: 'string' },
  'signing-dir': { type: 'string' },
  'signing-cert': { type: 'string' },
  ca: { type: 'string' },
};

/** The flag of this command closest to a misspelt one (--tokn: --token; --identity_uri: --identity-uri), if any is close. */
function closestFlag(flag: string, flags: readonly string[]): string | undefined {
  const wanted = flag.toLowerCase().replace(/_/g, '-');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of flags) {
    const d = editDistance(wanted, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, Math.floor(wanted.length / 4)) ? best : undefined;
}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const unknown = /Unknown option '-{1,2}([^']+)'/.exec((error as Error).message)?.[1];
    if (unknown) {
      const suggestion = closestFlag(unknown, Object.keys(options));
      throw new UsageError(`unknown flag --${unknown}${suggestion ? `; did you mean --${suggestion}?` : ''}`, usage);
    }
    throw new UsageError((error as Error).message, usage);
  }
}

function readToken(value: string): string {
  return value === '-' ? readFileSync(0, 'utf8').trim() : value;
}

/**
 * The package's version, from the package.json above this module file (src/ or dist/esm/ or dist/cjs/). The
 * file's real path is walked up, not the command's: installed as a dependency, the command is a link in
 * node_modules/.bin, above which lies the consumer's package.json.
 */
function version(): string {
  let start = process.argv[1] ?? '.';
  try {
    start = realpathSync(start);
  } catch {
    // not a file (a REPL, an eval): walk up from what was given
  }
  for (let dir = dirname(start); dir !== dirname(dir); dir = dirname(dir)) {
    const path = join(dir, 'package.json');
    if (existsSync(path)) {
      const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'keystone-authtoken') return pkg.version ?? 'unknown';
    }
  }
  return 'unknown';
}

/** Secret options that may come from the environment instead of the command line: KEYSTONE_AUTHTOKEN_<NAME>. */
function secretsFromEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const found: Record<string, string> = {};
  for (const declaration of OPTION_DECLARATIONS) {
    const value = declaration.secret ? env[`KEYSTONE_AUTHTOKEN_${declaration.name.toUpperCase()}`] : undefined;
    if (value) found[declaration.name] = value;
  }
  return found;
}

/**
 * Colours on a terminal that Node's own rule says has them (`tty.WriteStream#hasColors`: NO_COLOR,
 * NODE_DISABLE_COLORS, TERM=dumb and an unnamed CI turn them off). styleText applies the same rule, so the
 * decision made here and what is printed never disagree.
 */
function colour(): boolean {
  const out = process.stdout as NodeJS.WriteStream;
  return out.isTTY === true && !process.env.NO_COLOR && typeof out.hasColors === 'function' && out.hasColors();
}

async function doctor(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, DOCTOR_OPTIONS!, DOCTOR_USAGE);
  if (values.help) {
    process.stdout.write(`${DOCTOR_USAGE}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`, DOCTOR_USAGE);
  let options: AuthTokenOptions = {};
  let ignored: string[] = [];
  if (typeof values.config === 'string') {
    try {
      const loaded = loadConfigDetailed(values.config, typeof values.section === 'string' ? values.section : undefined);
      options = loaded.options;
      ignored = loaded.ignored;
    } catch (error) {
      if (error instanceof ConfigError) throw new UsageError(error.message, DOCTOR_USAGE);
      throw error;
    }
  }
  Object.assign(options, secretsFromEnvironment(process.env));
  const onCommandLine: string[] = [];
  for (const declaration of OPTION_DECLARATIONS) {
    // --token is the token to check; the v3token plugin's own token comes from --config or KEYSTONE_AUTHTOKEN_TOKEN.
    if (declaration.name === 'token') continue;
    const value = values[declaration.name.replace(/_/g, '-')];
    if (typeof value !== 'string') continue;
    (options as Record<string, unknown>)[declaration.name] = value;
    if (declaration.secret) onCommandLine.push(declaration.name);
  }
  for (const name of onCommandLine) {
    process.stderr.write(`keystone-authtoken: note: --${name.replace(/_/g, '-')} on the command line is visible to other users (ps, shell history); set KEYSTONE_AUTHTOKEN_${name.toUpperCase()} instead\n`);
  }
  if (Object.keys(options).length === 0) throw new UsageError('give --config FILE or the options as flags (at least --identity-uri, or --auth-url with the credentials)', DOCTOR_USAGE);
  const token = typeof values.token === 'string' ? readToken(values.token) : undefined;
  const checklist = await runDoctor({ options, ignored, token, fix: values.fix === true });
  if (values.json) process.stdout.write(`${safeJson({ ok: !checklist.failed, checks: checklist.checks })}\n`);
  else process.stdout.write(`${renderChecklist(checklist, colour())}\n`);
  return checklist.failed ? 1 : 0;
}

function inspect(args: string[]): number {
  const { values, positionals } = parse(args, INSPECT_OPTIONS!, INSPECT_USAGE);
  if (values.help) {
    process.stdout.write(`${INSPECT_USAGE}\n`);
    return 0;
  }
  const str = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const token = readToken(positionals[0] ?? str('token') ?? '-');
  if (!token) throw new UsageError('no token given', INSPECT_USAGE);
  if ((str('signing-cert') === undefined) !== (str('ca') === undefined)) throw new UsageError('--signing-cert and --ca go together', INSPECT_USAGE);
  const report = inspectToken({ token, signingDir: str('signing-dir'), signingCert: str('signing-cert'), ca: str('ca') });
  process.stdout.write(values.json ? `${safeJson(report)}\n` : `${renderInspection(report)}\n`);
  const verification = report.verification as { result?: string } | undefined;
  return report.error || verification?.result === 'refused' ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const [command, ...rest] = argv;
    if (command === '--version' || command === '-v' || command === 'version') {
      process.stdout.write(`${version()}\n`);
      return 0;
    }
    if (!command || command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return command ? 0 : 2;
    }
    if (command === 'doctor') return await doctor(rest);
    if (command === 'inspect') return inspect(rest);
    throw new UsageError(`unknown command ${command}`);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`keystone-authtoken: ${terminalSafe(error.message)}\n\n${error.usage}\n`);
      return 2;
    }
    throw error;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`keystone-authtoken: unexpected error: ${(error as Error)?.stack ?? error}\n`);
    process.exit(1);
  },
);
