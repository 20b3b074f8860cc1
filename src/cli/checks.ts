import { styleText } from 'node:util';
import { terminalSafe } from './terminal-text.js';
/** One line of a checklist: what was checked, how it went, the evidence, and the fix. */
export interface Check {
  group: string;
  name: string;
  status: 'ok' | 'warning' | 'failure' | 'skipped';
  evidence: string;
  fix?: string;
}

export class Checklist {
  readonly checks: Check[] = [];

  add(group: string, name: string, status: Check['status'], evidence: string, fix?: string): Check {
    const check: Check = { group, name, status, evidence, ...(fix ? { fix } : {}) };
    this.checks.push(check);
    return check;
  }

  ok(group: string, name: string, evidence: string): Check {
    return this.add(group, name, 'ok', evidence);
  }

  warn(group: string, name: string, evidence: string, fix?: string): Check {
    return this.add(group, name, 'warning', evidence, fix);
  }

  fail(group: string, name: string, evidence: string, fix?: string): Check {
    return this.add(group, name, 'failure', evidence, fix);
  }

  skip(group: string, name: string, evidence: string): Check {
    return this.add(group, name, 'skipped', evidence);
  }

  get failed(): boolean {
    return this.checks.some((check) => check.status === 'failure');
  }
}

/**
 * Human output, grouped; colours only when `colour` (a terminal, and NO_COLOR unset: the caller decides),
 * painted with node:util's styleText.
 */
export function renderChecklist(checklist: Checklist, colour: boolean): string {
  const paint = (format: Parameters<typeof styleText>[0], text: string) => (colour ? styleText(format, text) : text);
  const mark: Record<Check['status'], string> = {
    ok: paint('green', 'ok     '),
    warning: paint('yellow', 'WARNING'),
    failure: paint('red', 'FAILURE'),
    skipped: paint('gray', 'skipped'),
  };
  const lines: string[] = [];
  let group = '';
  // Grouped by first appearance (checks of one group may run at several moments), in running order within a group.
  const groups = [...new Set(checklist.checks.map((check) => check.group))];
  const ordered = groups.flatMap((name) => checklist.checks.filter((check) => check.group === name));
  for (const check of ordered) {
    if (check.group !== group) {
      group = check.group;
      lines.push('', paint('bold', terminalSafe(group)));
    }
    // Evidence quotes what tokens and identity servers say (user, project, role names): never raw to a terminal.
    lines.push(`  ${mark[check.status]} ${terminalSafe(check.name)}: ${terminalSafe(check.evidence)}`);
    if (check.fix && check.status !== 'ok') lines.push(`          fix: ${terminalSafe(check.fix)}`);
  }
  const count = (status: Check['status']) => checklist.checks.filter((c) => c.status === status).length;
  lines.push('', `${count('ok')} ok, ${count('warning')} warning(s), ${count('failure')} failure(s)`);
  return lines.join('\n').trimStart();
}
