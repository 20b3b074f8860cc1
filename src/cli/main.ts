#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { loadConfigDetailed } from '../config-file.js';
import { ConfigError } from '../errors.js';
import { closestOptionName, OPTION_DECLARATIONS, type AuthTokenOptions } from '../options.js';
import { renderChecklist } from './checks.js';
import { runDoctor } from './doctor.js';
import { inspectToken, renderInspection } from './inspect.js';

const USAGE = `usage:
  keystone-authtoken doctor [--config FILE [--section NAME]] [--<option> VALUE ...] [--token TOKEN | --token -] [--fix] [--json]
  keystone-authtoken inspect [TOKEN | -] [--signing-dir DIR | --signing-cert FILE --ca FILE] [--json]

doctor runs the operators' checklist (options, signing_dir, files, identity server, certificates, admin
credentials, revocation list, and optionally one token) and exits 0 when nothing failed, 1 otherwise.
--fix creates signing_dir and replaces stale or unparseable certificate files with the served ones.
Any keystone_authtoken option can be given as a flag: --identity-uri URL, --signing-dir DIR, ...
inspect describes a token offline (format, hashes, CMS details, body) and verifies it when given certificates.`;

class UsageError extends Error {}

const OPTION_NAMES = new Set(OPTION_DECLARATIONS.map((d) => d.name));

function parse(argv: string[]): { flags: Map<string, string | true>; positional: string[] } {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  const booleans = new Set(['fix', 'json', 'help']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [rawName, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const name = rawName.replace(/-/g, '_');
    if (booleans.has(name)) flags.set(name, true);
    else {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`--${rawName} needs a value`);
      flags.set(name, value);
    }
  }
  return { flags, positional };
}

function readToken(value: string): string {
  return value === '-' ? readFileSync(0, 'utf8').trim() : value;
}

async function doctor(flags: Map<string, string | true>, positional: string[]): Promise<number> {
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]}`);
  let options: AuthTokenOptions = {};
  let ignored: string[] = [];
  const config = flags.get('config');
  if (typeof config === 'string') {
    try {
      const loaded = loadConfigDetailed(config, typeof flags.get('section') === 'string' ? (flags.get('section') as string) : undefined);
      options = loaded.options;
      ignored = loaded.ignored;
    } catch (error) {
      if (error instanceof ConfigError) throw new UsageError(error.message);
      throw error;
    }
  }
  for (const [name, value] of flags) {
    if (['config', 'section', 'token', 'fix', 'json', 'help'].includes(name)) continue;
    if (!OPTION_NAMES.has(name)) {
      const suggestion = closestOptionName(name);
      throw new UsageError(`unknown flag --${name.replace(/_/g, '-')}${suggestion ? `; did you mean --${suggestion.replace(/_/g, '-')}?` : ''}`);
    }
    (options as Record<string, unknown>)[name] = value;
  }
  if (Object.keys(options).length === 0) throw new UsageError('give --config FILE or the options as flags (at least --identity-uri)');
  const token = flags.get('token');
  const checklist = await runDoctor({ options, ignored, token: typeof token === 'string' ? readToken(token) : undefined, fix: flags.get('fix') === true });
  if (flags.get('json') === true) process.stdout.write(`${JSON.stringify({ ok: !checklist.failed, checks: checklist.checks }, null, 2)}\n`);
  else process.stdout.write(`${renderChecklist(checklist, process.stdout.isTTY === true)}\n`);
  return checklist.failed ? 1 : 0;
}

function inspect(flags: Map<string, string | true>, positional: string[]): number {
  const source = positional[0] ?? (typeof flags.get('token') === 'string' ? (flags.get('token') as string) : '-');
  const token = readToken(source);
  if (!token) throw new UsageError('no token given');
  const str = (name: string) => (typeof flags.get(name) === 'string' ? (flags.get(name) as string) : undefined);
  if ((str('signing_cert') === undefined) !== (str('ca') === undefined)) throw new UsageError('--signing-cert and --ca go together');
  const report = inspectToken({ token, signingDir: str('signing_dir'), signingCert: str('signing_cert'), ca: str('ca') });
  process.stdout.write(flags.get('json') === true ? `${JSON.stringify(report, null, 2)}\n` : `${renderInspection(report)}\n`);
  const verification = report.verification as { result?: string } | undefined;
  return report.error || verification?.result === 'refused' ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const [command, ...rest] = argv;
    const { flags, positional } = parse(rest);
    if (!command || command === 'help' || command === '--help' || flags.get('help') === true) {
      process.stdout.write(`${USAGE}\n`);
      return command ? 0 : 2;
    }
    if (command === 'doctor') return await doctor(flags, positional);
    if (command === 'inspect') return inspect(flags, positional);
    throw new UsageError(`unknown command ${command}`);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`keystone-authtoken: ${error.message}\n\n${USAGE}\n`);
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
