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
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=240000', ...files], { stdio: 'inherit', env });
const status = await new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
await keystone?.stop();
process.exit(status);
