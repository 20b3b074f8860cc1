import { spawn, spawnSync } from 'node:child_process';

/** True when an `openssl` binary answers `openssl version`. */
export function opensslAvailable(): boolean {
  return spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;
}

/** PEM CMS as keystoneclient's token_to_cms writes it. */
export function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return ['-----BEGIN CMS-----', ...lines, '-----END CMS-----', ''].join('\n');
}

/** DER to a PKI token as keystoneclient's cms_to_token writes it. */
export function derToPkiToken(der: Uint8Array): string {
  return Buffer.from(der).toString('base64').replace(/\//g, '-');
}

/**
 * The verdict of the command the Python middleware runs for every token:
 * openssl cms -verify -certfile <signing> -CAfile <ca> -inform PEM -nosmimecap -nodetach -nocerts -noattr
 */
export function opensslVerify(pem: string, signingCertPath: string, caPath: string): Promise<{ ok: boolean; status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', [
      'cms', '-verify', '-certfile', signingCertPath, '-CAfile', caPath,
      '-inform', 'PEM', '-nosmimecap', '-nodetach', '-nocerts', '-noattr', '-out', '/dev/null',
    ]);
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ ok: status === 0, status, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(pem);
  });
}
