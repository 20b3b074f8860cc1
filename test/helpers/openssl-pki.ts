import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './app.js';

/**
 * Certificates made by the openssl command line at test time, with any extensions, and tokens signed by
 * `openssl cms -sign` exactly as Keystone ran it: the real peer for certificate path decisions.
 */
export interface OpensslCertificate {
  name: string;
  pem: string;
  path: string;
  keyPath: string;
}

function openssl(args: string[], input?: string): string {
  const result = spawnSync('openssl', args, { encoding: 'utf8', input });
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

export const CA_EXTENSIONS = 'basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash';
export const SIGNER_EXTENSIONS = 'keyUsage = digitalSignature, nonRepudiation';

export class OpensslPki {
  readonly dir = tempDir('kat-openssl-pki-');
  private serial = 1000;

  /**
   * A certificate for `subject` (openssl's /A=b/C=d form) with the extensions given as an openssl config
   * section body (may reference other sections, given in `sections`). Without `issuer`, self-signed. `v1`: no
   * extensions at all, version 1.
   */
  issue(name: string, spec: { subject: string; issuer?: OpensslCertificate; extensions?: string; sections?: string; v1?: boolean; keyType?: 'ec' | 'rsa' }): OpensslCertificate {
    const keyPath = join(this.dir, `${name}.key`);
    const path = join(this.dir, `${name}.pem`);
    if (spec.keyType === 'rsa') openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyPath]);
    else openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath]);
    const config = join(this.dir, `${name}.cnf`);
    writeFileSync(config, `[req]\ndistinguished_name = dn\n[dn]\n[ext]\n${spec.extensions ?? ''}\n${spec.sections ?? ''}\n`);
    const csr = join(this.dir, `${name}.csr`);
    openssl(['req', '-new', '-key', keyPath, '-subj', spec.subject, '-config', config, '-out', csr]);
    const signer = spec.issuer ? ['-CA', spec.issuer.path, '-CAkey', spec.issuer.keyPath] : ['-signkey', keyPath];
    const extensions = spec.v1 ? [] : ['-extfile', config, '-extensions', 'ext'];
    openssl(['x509', '-req', '-in', csr, ...signer, '-set_serial', String(this.serial++), '-days', '3650', '-sha256', ...extensions, '-out', path]);
    return { name, pem: readFileSync(path, 'utf8'), path, keyPath };
  }

  /** A file holding the given certificates, in order. */
  bundle(name: string, certificates: OpensslCertificate[]): string {
    const path = join(this.dir, name);
    writeFileSync(path, certificates.map((c) => c.pem).join(''));
    return path;
  }

  /** A PEM CMS token body signed as Keystone's cms_sign_token did (`-noattr -nocerts -nodetach`, PEM out). */
  sign(signer: OpensslCertificate, body: string, extra: string[] = ['-noattr']): string {
    return openssl(['cms', '-sign', '-signer', signer.path, '-inkey', signer.keyPath, '-outform', 'PEM', '-nosmimecap', '-nodetach', '-nocerts', '-md', 'sha256', ...extra], body);
  }
}
