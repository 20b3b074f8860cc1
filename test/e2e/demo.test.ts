import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tempDir } from '../helpers/app.js';

/** Turns one printed curl line into the equivalent fetch: its URL and its X-Auth-Token, if any. */
function parseCurl(line: string): { url: string; token: string | undefined } {
  const token = /-H 'X-Auth-Token: ([^']+)'/.exec(line)?.[1];
  const url = /(http:\/\/\S+)\s*$/.exec(line)![1]!;
  return { url, token };
}

test('npm start: the demo prints curl lines, today\'s tokens first (Fernet, JWS) then PKI and PKIZ, whose requests succeed, are refused as revoked, and ask for a token', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], {
    env: { ...process.env, SIGNING_DIR: tempDir('kat-demo-') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 60_000;
    while (!output.includes('Press Ctrl-C to stop.')) {
      if (Date.now() > deadline || child.exitCode !== null) assert.fail(`demo did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const lines = output.split('\n').filter((line) => line.startsWith('curl '));
    assert.equal(lines.length, 6, output);
    const tokens = lines.map((line) => parseCurl(line).token);
    assert.match(tokens[0]!, /^gAAAAA[\w-]+$/, 'first a Fernet token');
    assert.match(tokens[1]!, /^eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9\.[\w-]+\.[\w-]+$/, 'then a JWS token (ES256)');
    assert.match(tokens[2]!, /^MII/, 'then PKI');
    assert.match(tokens[3]!, /^PKIZ_/, 'then PKIZ');
    const outcomes = [];
    for (const line of lines) {
      const { url, token } = parseCurl(line);
      const response = await fetch(url, { headers: token ? { 'x-auth-token': token } : {} });
      outcomes.push({ status: response.status, www: response.headers.get('www-authenticate'), body: await response.json() });
    }
    assert.equal(outcomes[0]!.status, 200);
    assert.equal(outcomes[0]!.body.headers['x-user-name'], 'alice');
    assert.equal(outcomes[0]!.body.headers['x-identity-status'], 'Confirmed');
    assert.equal(outcomes[1]!.status, 200);
    assert.equal(outcomes[1]!.body.keystone.user.name, 'carol');
    assert.equal(outcomes[2]!.status, 200);
    assert.equal(outcomes[2]!.body.keystone.user.name, 'dave');
    assert.equal(outcomes[3]!.status, 200);
    assert.equal(outcomes[3]!.body.keystone.user.name, 'bob');
    assert.equal(outcomes[4]!.status, 401);
    assert.equal(outcomes[4]!.body.error.reason, 'ERR_TOKEN_INVALID', 'a revoked online token is unknown to the identity server');
    assert.equal(outcomes[5]!.status, 401);
    assert.match(outcomes[5]!.www ?? '', /^Keystone uri="http:\/\/127\.0\.0\.1:\d+\/"$/);
  } finally {
    child.kill('SIGINT');
  }
  assert.equal(await exited, 0, 'the demo shuts down cleanly on Ctrl-C');
  assert.match(output, /stopped/);
});
