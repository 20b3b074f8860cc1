// Runs every test/**/*.test.ts with node's test runner (TypeScript through tsx). Node 20's --test does not
// expand globs itself, so the files are listed here. Extra arguments are passed to node (e.g. a file filter).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return find(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}
const filter = process.argv.slice(2);
const files = find('test').filter((file) => filter.length === 0 || filter.some((part) => file.includes(part))).sort();
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=240000', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
