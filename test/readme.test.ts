import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { renderReadme } from '../scripts/readme-tables.js';
import { renderOptionDocs } from '../scripts/option-docs.js';
import { EXTRA_DECLARATIONS, OPTION_DECLARATIONS } from '../src/options.js';

test('the README tables of options, headers and errors match the declarations in src/ (run: npx tsx scripts/readme-tables.ts)', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  assert.equal(renderReadme(readme), readme);
});

test('the README states the two set-up commands and .ci/run runs the same test command', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const ci = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
  assert.match(readme, /npm ci && npm start/);
  assert.match(readme, /npm ci && npm test/);
  assert.match(ci, /^npm ci && npm test$/m);
});

/**
 * Names the README's snippets use from the surrounding story (an app made earlier, options, a logger, a token),
 * declared here rather than repeated in every snippet. Each snippet may still declare its own.
 */
const CONTEXT = `
import type { Express } from 'express';
import type { FastifyInstance } from 'fastify';
import type Koa from 'koa';
import type { Hono } from 'hono';
import type { AuthTokenMiddleware, AuthTokenOptions, Logger } from 'keystone-authtoken';
declare global {
  var app: Express;            // an Express app
  var auth: AuthTokenMiddleware;
  var fastify: FastifyInstance;
  var koa: Koa;
  var hono: Hono;
  var options: AuthTokenOptions;
  var token: string;
  function pino(): Logger;    // pino is not a dependency; any { debug, info, warn, error } logger
}
export {};
`;

/**
 * @nestjs/common is not a dependency of this project: the few declarations the NestJS guard uses, with the
 * signatures @nestjs/common 10 gives them (getRequest<T = any>(): T; CanActivate may also return an Observable).
 */
const NEST = `
declare module '@nestjs/common' {
  export interface HttpArgumentsHost { getRequest<T = any>(): T; getResponse<T = any>(): T; }
  export interface ExecutionContext { switchToHttp(): HttpArgumentsHost; }
  export interface CanActivate { canActivate(context: ExecutionContext): boolean | Promise<boolean>; }
  export function Injectable(): ClassDecorator;
  export class HttpException extends Error { constructor(response: string | Record<string, any>, status: number); }
}
`;

test('every TypeScript snippet of the README type-checks against the package types (strict)', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
  assert.ok(snippets.length >= 10, `${snippets.length} snippets found`);
  const root = fileURLToPath(new URL('..', import.meta.url));
  const files = new Map<string, string>([
    [join(root, 'test/readme-snippets/context.ts'), CONTEXT],
    [join(root, 'test/readme-snippets/nest.d.ts'), NEST],
    ...snippets.map((text, i) => [join(root, `test/readme-snippets/snippet-${i}.ts`), `${text}\nexport {};\n`] as [string, string]),
  ]);
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const options = { ...config.options, noEmit: true, noUnusedLocals: false };
  const host = ts.createCompilerHost(options);
  const original = { getSourceFile: host.getSourceFile, fileExists: host.fileExists, readFile: host.readFile };
  host.fileExists = (name) => files.has(name) || original.fileExists(name);
  host.readFile = (name) => files.get(name) ?? original.readFile(name);
  host.getSourceFile = (name, language, ...rest) => {
    const text = files.get(name);
    return text === undefined ? original.getSourceFile(name, language, ...rest) : ts.createSourceFile(name, text, language);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const problems = ts.getPreEmitDiagnostics(program).filter((d) => d.file && files.has(d.file.fileName)).map((d) => {
    const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
    const index = /snippet-(\d+)/.exec(d.file!.fileName)?.[1];
    return `README snippet ${index ?? d.file!.fileName} (${snippets[Number(index)]?.split('\n')[0]}), line ${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
  assert.deepEqual(problems, []);
});

test('AuthTokenOptions carries the README table\'s text as doc comments (editor hovers, typedoc): run npx tsx scripts/option-docs.ts', () => {
  const path = fileURLToPath(new URL('../src/options.ts', import.meta.url));
  const source = readFileSync(path, 'utf8');
  assert.equal(renderOptionDocs(source), source, 'src/options.ts doc comments differ from the declarations');
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.ES2022, true);
  const options = file.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'AuthTokenOptions')!;
  const documented = options.members.map((member) => ({ name: member.name!.getText(file), doc: ts.getJSDocCommentsAndTags(member).length > 0 }));
  assert.deepEqual(documented.filter((m) => !m.doc).map((m) => m.name), [], 'every option has a doc comment');
  const declared = new Set([...OPTION_DECLARATIONS, ...EXTRA_DECLARATIONS].map((d) => d.name));
  assert.deepEqual(documented.map((m) => m.name).filter((name) => !declared.has(name)), [], 'every option is declared (and so in the README table)');
});
