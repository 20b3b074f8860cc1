import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./keystoneclient_ref.py', import.meta.url));
const PYTHON = '/usr/bin/python3';

/** Why keystoneclient cannot be used here, or undefined when it can. */
export function keystoneclientMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import keystoneclient.common.cms'], { encoding: 'utf8' });
  return probe.status === 0 ? undefined : `python3-keystoneclient is not installed (apt-get install -y python3-keystoneclient): ${probe.stderr?.trim() ?? probe.error}`;
}

function run<T>(job: 'sign' | 'verify', items: unknown[]): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, [SCRIPT, job], { maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`keystoneclient ${job} failed: ${stderr || error.message}`));
      else resolve(JSON.parse(stdout) as T[]);
    });
    child.stdin!.end(JSON.stringify(items));
  });
}

export interface SignRequest {
  text: string;
  cert: string;
  key: string;
  md: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  form: 'pki' | 'pkiz' | 'text';
}

/** Mints with keystoneclient's cms_sign_token ('pki'), pkiz_sign ('pkiz') or cms_sign_text ('text', PEM). */
export function keystoneclientSign(items: SignRequest[]): Promise<string[]> {
  return run<string>('sign', items);
}

export interface ReferenceVerdict {
  ok: boolean;
  content: string | null;
  error: string;
}

/** keystoneclient's verdict (pkiz_verify, or cms_verify of token_to_cms), batched over `parallel` processes. */
export async function keystoneclientVerify(items: { token: string; cert: string; ca: string }[], parallel = 2): Promise<ReferenceVerdict[]> {
  const size = Math.ceil(items.length / parallel) || 1;
  const chunks: { token: string; cert: string; ca: string }[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return (await Promise.all(chunks.map((chunk) => run<ReferenceVerdict>('verify', chunk)))).flat();
}
