// Runs every test/**/*.test.ts with node's test runner (TypeScript through tsx). Node 20's --test does not
// expand globs itself, so the files are listed here. Extra arguments are file filters.
// One real Keystone is started per run (not per test) when a selected file needs it (its name holds
// "keystone-"), handed to the test processes in KEYSTONE_* variables, and stopped by process id at the end.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { keystoneEnv, keystoneMissing, startKeystone } from '../test/helpers/keystone.mjs';

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return find(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}
const filter = process.argv.slice(2);
const files = find('test').filter((file) => filter.length === 0 || filter.some((part) => file.includes(part))).sort();

let keystone;
const env = { ...process.env };
if (files.some((file) => /keystone-/.test(file)) && !env.KEYSTONE_URL) {
  const missing = keystoneMissing();
  if (missing) console.log(`# no real Keystone for this run: ${missing}; the tests that need one will say so and fail`);
  else {
    const started = Date.now();
    keystone = await startKeystone();
    console.log(`# real Keystone 22 at ${keystone.url} (pid ${keystone.pid}), started in ${Date.now() - started} ms`);
    Object.assign(env, keystoneEnv(keystone));
  }
}
// The files that share the one real Keystone run one at a time, beside the others (two at a time): Keystone 22
// on sqlite under uwsgi threads mixed up concurrent requests of two such files (a token carrying another
// request's roles, sqlite objects used across threads in its log), which no single file shows.
const sharing = files.filter((file) => /keystone-/.test(file));
const others = files.filter((file) => !/keystone-/.test(file));
function runFiles(list, concurrency, live) {
  if (list.length === 0) return Promise.resolve({ status: 0, output: '' });
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=240000', ...list], { stdio: ['ignore', 'pipe', 'inherit'], env });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
    if (live) process.stdout.write(chunk);
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ status: code ?? 1, output })));
}
const [mixed, serial] = await Promise.all([runFiles(others, 2, true), runFiles(sharing, 1, false)]);
// The Keystone files' report, held back so that the two reports do not interleave.
process.stdout.write(serial.output);
await keystone?.stop();
const counts = { tests: 0, pass: 0, fail: 0, cancelled: 0 };
for (const text of [mixed.output, serial.output]) {
  for (const name of Object.keys(counts)) counts[name] += Number(text.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
}
const status = mixed.status || serial.status;
console.log(`# all ${files.length} test files: tests ${counts.tests}, pass ${counts.pass}, fail ${counts.fail}, cancelled ${counts.cancelled}: ${status === 0 ? 'PASSED' : 'FAILED'}`);
process.exit(status);
