import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { tempDir } from '../helpers/app.js';

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

test('the packed library installs and imports from ESM, CommonJS and TypeScript', { timeout: 240_000 }, () => {
  const packDir = tempDir('kat-pack-');
  execFileSync(npm, ['pack', '--pack-destination', packDir, '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  const tarball = join(packDir, readdirSync(packDir).find((name) => name.endsWith('.tgz'))!);
  const project = tempDir('kat-consumer-');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  execFileSync(npm, ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--silent'], { cwd: project, stdio: ['ignore', 'ignore', 'inherit'] });

  const script = (load: string) => `${load}
    (async () => {
      const idp = await testing.startIdentityServer();
      const token = await idp.issueToken({ user: 'pack', format: 'pkiz' });
      const result = lib.verifySignedToken(token, { signingCert: idp.pki.signing.pem, caCerts: idp.pki.ca.pem });
      console.log(result.json().token.user.name, typeof lib.authToken, lib.hashToken(token).length);
      await idp.close();
    })();`;
  writeFileSync(join(project, 'esm.mjs'), script(`import * as lib from 'keystone-authtoken'; import * as testing from 'keystone-authtoken/testing';`));
  writeFileSync(join(project, 'cjs.cjs'), script(`const lib = require('keystone-authtoken'); const testing = require('keystone-authtoken/testing');`));
  for (const file of ['esm.mjs', 'cjs.cjs']) {
    assert.equal(execFileSync(process.execPath, [file], { cwd: project, encoding: 'utf8' }).trim(), 'pack function 32', file);
  }
  // Installed as a dependency, the command is a link in node_modules/.bin: its version comes from the package's own package.json.
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  assert.equal(execFileSync(join(project, 'node_modules', '.bin', 'keystone-authtoken'), ['--version'], { cwd: project, encoding: 'utf8' }).trim(), version);

  writeFileSync(join(project, 'consumer.ts'), `
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authToken, verifySignedToken, KeystoneAuthError, type AuthTokenOptions, type Identity, type ErrorCode } from 'keystone-authtoken';
import { startIdentityServer } from 'keystone-authtoken/testing';
const options: AuthTokenOptions = { identity_uri: 'http://127.0.0.1:35357', revocation_cache_time: 10, delay_auth_decision: 'true' };
const auth = authToken(options);
export function handler(req: IncomingMessage, res: ServerResponse): void {
  auth(req, res, () => {
    const who: Identity | undefined = req.keystone;
    res.end(who?.user.id ?? 'anonymous');
  });
}
export async function check(token: string): Promise<string> {
  const idp = await startIdentityServer();
  try {
    return verifySignedToken(token, { signingCert: idp.pki.signing.pem, caCerts: idp.pki.ca.pem }).signer.subject;
  } catch (error) {
    const code: ErrorCode | undefined = error instanceof KeystoneAuthError ? error.code : undefined;
    return code ?? 'unknown';
  } finally {
    await idp.close();
  }
}
`);
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, skipLibCheck: false, typeRoots: [join(root, 'node_modules/@types')], types: ['node'] },
    files: ['consumer.ts'],
  }));
  const help = execFileSync(join(project, 'node_modules/.bin/keystone-authtoken'), ['help'], { cwd: project, encoding: 'utf8' });
  assert.match(help, /keystone-authtoken doctor/, 'the command-line tool is installed');

  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, stdio: 'inherit' });

  // ./testing under every moduleResolution TypeScript has, and the package layout as publint reads it.
  for (const resolution of ['node10', 'node16', 'bundler']) {
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, module: resolution === 'node10' ? 'commonjs' : resolution === 'bundler' ? 'esnext' : 'node16', moduleResolution: resolution, target: 'ES2022', noEmit: true, skipLibCheck: true, typeRoots: [join(root, 'node_modules/@types')], types: ['node'] },
      files: ['consumer.ts'],
    }));
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, stdio: 'inherit' });
  }
  const bin = (name: string) => join(root, 'node_modules/.bin', name);
  const attw = execFileSync(bin('attw'), [tarball, '--format', 'ascii'], { cwd: root, encoding: 'utf8' });
  assert.match(attw, /No problems found/, attw);
  const publint = execFileSync(bin('publint'), ['--strict'], { cwd: root, encoding: 'utf8' });
  assert.match(publint, /All good/, publint);
});

test('engines covers the Node APIs the build imports', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
  const [major, minor] = pkg.engines.node.replace(/^>=/, '').split('.').map(Number) as [number, number];
  // zlib.crc32 (python-memcached's server choice) arrived in Node 20.15 and 22.2.
  const usesCrc32 = /\bcrc32\b/.test(readFileSync(join(root, 'src/cache/memcached-store.ts'), 'utf8'));
  if (usesCrc32) assert.ok(major > 20 || (major === 20 && minor >= 15), `engines ${pkg.engines.node} admits Node versions without zlib.crc32`);
});

test('typedoc generates the API reference (npm run docs) without errors', { timeout: 120_000 }, () => {
  const out = tempDir('kat-api-');
  const output = execFileSync(join(root, 'node_modules/.bin/typedoc'), ['--out', out, '--entryPoints', 'src/index.ts', '--entryPoints', 'src/testing/index.ts', '--logLevel', 'Error'], { cwd: root, encoding: 'utf8' });
  assert.doesNotMatch(output, /\[error\]/);
  assert.ok(readdirSync(out).includes('index.html'), 'index.html written');
  assert.ok(readdirSync(join(out, 'functions')).some((name) => name.includes('authToken')), 'authToken documented');
});
