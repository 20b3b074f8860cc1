// Writes the doc comments of AuthTokenOptions (src/options.ts) from OPTION_DECLARATIONS and EXTRA_DECLARATIONS,
// the declarations the README's options tables are generated from: one text for the README, editor hovers and
// the typedoc pages.   tsx scripts/option-docs.ts   rewrites src/options.ts; test/readme.test.ts fails on drift.
import { readFileSync, writeFileSync } from 'node:fs';
import { EXTRA_DECLARATIONS, OPTION_DECLARATIONS, type OptionDeclaration } from '../src/options.js';

function defaultOf(declaration: OptionDeclaration): string | undefined {
  const value = declaration.default;
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : String(value);
}

function comment(declaration: OptionDeclaration, indent: string): string {
  const fallback = defaultOf(declaration);
  const name = OPTION_DECLARATIONS.includes(declaration) ? `\`[keystone_authtoken] ${declaration.name}\`. ` : '';
  const text = `${name}${declaration.help.replace(/\*\//g, '*\\/')}${fallback === undefined || fallback === '' ? '' : ` Default: \`${fallback}\`.`}`;
  const words = text.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line && `${indent} * ${line} ${word}`.length > 118) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.length === 1 ? `${indent}/** ${lines[0]} */` : [`${indent}/**`, ...lines.map((l) => `${indent} * ${l}`), `${indent} */`].join('\n');
}

/** src/options.ts with each AuthTokenOptions property preceded by its declaration's doc comment. */
export function renderOptionDocs(source: string): string {
  const declarations = new Map([...OPTION_DECLARATIONS, ...EXTRA_DECLARATIONS].map((d) => [d.name, d]));
  const start = source.indexOf('export interface AuthTokenOptions {');
  if (start < 0) throw new Error('src/options.ts has no AuthTokenOptions interface');
  const end = source.indexOf('\n}\n', start);
  const body = source.slice(start, end).split('\n');
  const out: string[] = [body[0]!];
  let pendingComment: string[] = [];
  for (const line of body.slice(1)) {
    if (/^\s*\/\*\*/.test(line) || (pendingComment.length > 0 && !/\*\/\s*$/.test(pendingComment[pendingComment.length - 1]!))) {
      pendingComment.push(line);
      continue;
    }
    const property = /^(\s*)([A-Za-z_]+)\??:/.exec(line);
    const declaration = property && declarations.get(property[2]!);
    if (declaration) out.push(comment(declaration, property[1]!));
    else out.push(...pendingComment);
    pendingComment = [];
    out.push(line);
  }
  out.push(...pendingComment);
  return source.slice(0, start) + out.join('\n') + source.slice(end);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = 'src/options.ts';
  writeFileSync(path, renderOptionDocs(readFileSync(path, 'utf8')));
  console.log('AuthTokenOptions doc comments regenerated');
}
