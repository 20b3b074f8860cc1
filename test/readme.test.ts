import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderReadme } from '../scripts/readme-tables.js';

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
