import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export interface ManifestEntry {
  name: string;
  body: string;
  signer: string;
  md: string;
  options: string;
}

export const manifest: ManifestEntry[] = JSON.parse(readFileSync(join(FIXTURES, 'tokens/manifest.json'), 'utf8'));

export function token(name: string, form: 'pki' | 'pkiz' | 'pem'): string {
  return readFileSync(join(FIXTURES, 'tokens', `${name}.${form}`), 'utf8');
}

export function pki(name: string): string {
  return readFileSync(join(FIXTURES, 'pki', name), 'utf8');
}

export function pkiPath(name: string): string {
  return join(FIXTURES, 'pki', name);
}

export function body(name: string): unknown {
  return JSON.parse(readFileSync(join(FIXTURES, 'bodies', `${name}.json`), 'utf8'));
}

/** The material a well-configured node has: the signing certificate and the CA chain. */
export function material(signer = 'signing-rsa') {
  return { signingCert: pki(`${signer}.pem`), caCerts: pki('ca-chain.pem') };
}
