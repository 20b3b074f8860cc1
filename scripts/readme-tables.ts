// Generates the README's reference tables from the declarations in src/, so they cannot drift:
//   tsx scripts/readme-tables.ts          rewrites the marked sections of README.md
// test/readme.test.ts fails when README.md differs from what this produces.
import { readFileSync, writeFileSync } from 'node:fs';
import { EXTRA_DECLARATIONS, OPTION_DECLARATIONS, type OptionDeclaration } from '../src/options.js';
import { ERROR_CODES } from '../src/error-codes.js';
import { SERVICE_HEADERS, USER_HEADERS } from '../src/token/headers.js';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

function defaultOf(declaration: OptionDeclaration): string {
  const value = declaration.default;
  if (value === undefined) return '(unset)';
  if (Array.isArray(value)) return `\`${value.join(',')}\``;
  return `\`${String(value)}\``;
}

function optionRows(declarations: readonly OptionDeclaration[]): string {
  return declarations.map((d) => `| \`${d.name}\` | ${d.type}${d.choices ? ` (${d.choices.join(', ')})` : ''} | ${defaultOf(d)} | ${cell(d.help)} |`).join('\n');
}

export function sections(): Record<string, string> {
  return {
    options: ['| option | type | default | meaning |', '|---|---|---|---|', optionRows(OPTION_DECLARATIONS)].join('\n'),
    extras: ['| option | type | default | meaning |', '|---|---|---|---|', optionRows(EXTRA_DECLARATIONS)].join('\n'),
    errors: ['| code | HTTP | cause | what to do |', '|---|---|---|---|', ...Object.entries(ERROR_CODES).map(([code, d]) => `| \`${code}\` | ${d.status} | ${cell(d.cause)} | ${cell(d.fix)} |`)].join('\n'),
    headers: [
      '| header | set on confirmed requests |', '|---|---|',
      ...USER_HEADERS.map((h) => `| \`${h.replace(/(^|-)([a-z])/g, (_, dash, c) => dash + c.toUpperCase())}\` | user token${['x-user', 'x-tenant-id', 'x-tenant-name', 'x-tenant', 'x-role'].includes(h) ? ' (deprecated name, still set)' : ''} |`),
      ...SERVICE_HEADERS.map((h) => `| \`${h.replace(/(^|-)([a-z])/g, (_, dash, c) => dash + c.toUpperCase())}\` | service token (X-Service-Token) |`),
    ].join('\n'),
  };
}

/** README text with each `<!-- name:start -->…<!-- name:end -->` section replaced by its generated table. */
export function renderReadme(readme: string): string {
  let text = readme;
  for (const [name, table] of Object.entries(sections())) {
    const pattern = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
    if (!pattern.test(text)) throw new Error(`README.md has no ${name} section markers`);
    text = text.replace(pattern, (_, start, end) => `${start}${table}\n${end}`);
  }
  return text;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const readme = readFileSync('README.md', 'utf8');
  writeFileSync('README.md', renderReadme(readme));
  console.log('README.md tables regenerated');
}
