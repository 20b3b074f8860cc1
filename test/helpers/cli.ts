import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { IdentityServer } from '../../src/testing/index.js';
import { tempDir } from './app.js';

/** The CLI's entry point (run with `node --import tsx`). */
export const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** Runs the command as a child process (asynchronously: the identity server lives in the test's process). */
export function runCli(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** `doctor --json` against `idp` with its admin credentials (or `admin`): the report, its failures, a check by name. */
export async function doctorJson(idp: IdentityServer, extra: string[] = [], admin = idp.adminCredentials) {
  const args = ['doctor', '--json', '--identity-uri', idp.url, '--admin-user', admin.admin_user, '--admin-password', admin.admin_password, '--admin-tenant-name', admin.admin_tenant_name, '--www-authenticate-uri', 'http://keystone.example.test:5000/', ...extra];
  const result = await runCli(args);
  let report: { ok: boolean; checks: { group: string; name: string; status: string; evidence: string; fix?: string }[] };
  try {
    report = JSON.parse(result.stdout);
  } catch {
    assert.fail(`doctor printed no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  const failures = report.checks.filter((c) => c.status === 'failure');
  return { ...result, report, failures, find: (name: string) => report.checks.find((c) => c.name === name) };
}

/** A fresh directory of mode 0700 (a signing_dir doctor trusts). */
export function privateDir(): string {
  const dir = tempDir('kat-doctor-');
  chmodSync(dir, 0o700);
  return dir;
}
