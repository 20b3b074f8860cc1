import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onLoadCores } from './cpu-pinning.js';

/**
 * Starts bench/identity-server-process.ts and resolves with its URL and admin credentials. The server runs on
 * the cores the app does not use where it can (bench/cpu-pinning.ts): in production it is another machine.
 */
export function identityServerProcess(env: Record<string, string> = {}): Promise<{ url: string; admin_user: string; admin_password: string; admin_tenant_name: string; token: string; child: ChildProcess }> {
  const script = fileURLToPath(new URL('./identity-server-process.ts', import.meta.url));
  const [command, args] = onLoadCores(process.execPath, ['--import', 'tsx', script]);
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ ...JSON.parse(line), child });
    });
    child.once('exit', (code) => reject(new Error(`identity server process exited (${code})`)));
  });
}
