import { accessSync, constants, existsSync, lstatSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { KeyUsageFlags } from '@peculiar/asn1-x509';
import { KeystoneAuthError } from '../errors.js';
import { SigningMaterial } from '../cms/verify.js';
import { parseCertificates, type ParsedCertificate } from '../cms/certificate.js';
import { AdminToken } from '../identity/admin-token.js';
import { IdentityClient, parseJsonResponse } from '../identity/client.js';
import { PATHS, VersionDiscovery, type ApiVersion } from '../identity/versions.js';
import { silentLogger } from '../logger.js';
import { resolveOptions, type AuthTokenOptions, type ResolvedOptions } from '../options.js';
import { CA_CERT_FILE, REVOKED_FILE, SIGNING_CERT_FILE, SigningDir } from '../signing/signing-dir.js';
import { directoryProblems, fileProblem } from '../signing/trust.js';
import { readIdentity } from '../token/access-info.js';
import { classifyToken } from '../token/format.js';
import { hashToken } from '../token/hash.js';
import { Checklist } from './checks.js';
import { checkCatalogEndpoint, checkOnlineToken, checkServiceUser, endpointSource } from './doctor-service.js';

const DAY = 24 * 3600 * 1000;

export interface DoctorInput {
  options: AuthTokenOptions;
  /** Option names in the config section that this library skips (keystoneauth plugin options). */
  ignored?: string[];
  token?: string;
  fix?: boolean;
  now?: Date;
}

/** Runs the operators' checklist with the library's own option parsing and code paths. */
export async function runDoctor(input: DoctorInput): Promise<Checklist> {
  const list = new Checklist();
  const now = input.now ?? new Date();
  const options = checkOptions(list, input);
  if (!options) return list;
  const client = new IdentityClient({ ...options, httpMaxRetries: 0 });
  // Without identity_uri, the service user's token tells where the identity endpoint is (its catalog): the
  // AdminToken made here is the one that locates it, and the one every later check uses.
  const adminToken = options.credentials ? new AdminToken(client, new VersionDiscovery(client, options.authVersion), options) : undefined;
  try {
    if (!options.identityUri && adminToken && !(await checkCatalogEndpoint(list, client, adminToken, options))) return list;
    const served = await checkIdentityServer(list, client, options, endpointSource(input.options, options));
    // A Fernet/JWS cloud (no certificate endpoints) uses no signing_dir: nothing to say about it.
    const pki = served?.pki ?? true;
    let signingDir: string | undefined;
    let cached: CachedFiles = {};
    if (pki) {
      signingDir = checkSigningDir(list, options, input.fix ?? false);
      cached = checkFiles(list, signingDir, now);
      checkCertificates(list, served?.material, cached, now);
      if (input.fix && served && signingDir) await fixCertificates(list, signingDir, served, cached);
    } else {
      list.ok('signing_dir', 'not used', 'the identity server issues no PKI tokens, so no certificates or revocation list are kept');
    }
    let revocations: Set<string> | undefined;
    if (!served) list.skip('service credentials', 'authentication', 'identity server unusable');
    else if (!adminToken) list.skip('service credentials', 'authentication', 'no service credentials');
    else if ((await checkServiceUser(list, client, adminToken, options, served.version)) !== undefined && pki) {
      revocations = await checkRevocations(list, client, adminToken, options, served, signingDir, now);
    }
    if (input.token !== undefined) {
      if (classifyToken(input.token) === 'online') await checkOnlineToken(list, input.token, client, served && adminToken, served?.version);
      else checkToken(list, input.token, options, served?.material ?? cached.material, revocations, now);
    }
  } finally {
    await client.close();
  }
  return list;
}

function checkOptions(list: Checklist, input: DoctorInput): ResolvedOptions | undefined {
  const group = 'options';
  let options: ResolvedOptions;
  try {
    options = resolveOptions(input.options);
  } catch (error) {
    list.fail(group, 'keystone_authtoken options', (error as Error).message, 'correct the option named above');
    return undefined;
  }
  list.ok(group, 'keystone_authtoken options', `${Object.keys(input.options).length} option(s) understood; identity endpoint ${endpointSource(input.options, options)}`);
  const foreign = input.ignored?.filter((name) => !name.startsWith('[')) ?? [];
  const misplaced = input.ignored?.filter((name) => name.startsWith('[')) ?? [];
  if (foreign.length) list.ok(group, 'options for Python services only', `skipped: ${foreign.join(', ')}`);
  if (misplaced.length) list.warn(group, 'options in the auth_section', `ignored: ${misplaced.join(', ')}; the auth_section is read for the auth plugin's options only (auth_type and its credentials), as keystonemiddleware does`, 'move them to [keystone_authtoken]');
  for (const { option, message } of options.warnings) {
    if (option.startsWith('[') || foreign.includes(option.split(', ')[0]!)) continue; // listed above
    if (message.includes('legacy')) list.warn(group, 'legacy options', message, 'replace auth_host/auth_port/auth_protocol/auth_admin_prefix by identity_uri');
    else if (option === 'revocation_cache_time') list.warn(group, 'revocation_cache_time', message, 'set revocation_cache_time to 10 or more');
    else list.warn(group, option, message);
  }
  const rawRevocation = Number(input.options.revocation_cache_time ?? 10);
  if (rawRevocation >= 1 && rawRevocation < 5) list.warn(group, 'revocation_cache_time', `${rawRevocation} s: the revocation list is fetched very often`, 'use 10 s or more');
  if (!options.credentials) {
    list.fail(group, 'admin credentials', 'no service credentials (auth_type with auth_url, or admin_user/admin_password, or admin_token): PKI tokens cannot be checked against the revocation list (every one gets 503) and online tokens cannot be validated', 'set auth_type = password, auth_url, username, password, user_domain_name, project_name, project_domain_name');
  } else list.ok(group, 'admin credentials', options.credentials.kind === 'admin_token' ? 'admin_token is set (bootstrap only)' : options.credentials.kind === 'legacy' ? `admin_user ${options.adminUser}, project ${options.adminTenantName}` : options.credentials.describe);
  return options;
}

function selinuxEnforcing(): boolean {
  try {
    return readFileSync('/sys/fs/selinux/enforce', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

function checkSigningDir(list: Checklist, options: ResolvedOptions, fix: boolean): string | undefined {
  const group = 'signing_dir';
  const path = options.signingDir;
  if (!path) {
    list.warn(group, 'signing_dir', 'not set: each process uses a fresh temporary directory and fetches the certificates at every start', 'set signing_dir to a directory of the service, e.g. /var/cache/<service>');
    return undefined;
  }
  if (!existsSync(path)) {
    if (fix) {
      try {
        SigningDir.open(path, silentLogger);
        list.ok(group, 'exists', `${path} was absent and has been created with mode 0700 (--fix)`);
      } catch (error) {
        list.fail(group, 'exists', (error as Error).message);
        return undefined;
      }
    } else {
      // The middleware creates it at start (mode 0700): absent is fine if it can be created there.
      let parent = dirname(path);
      while (!existsSync(parent) && parent !== dirname(parent)) parent = dirname(parent);
      try {
        accessSync(parent, constants.W_OK | constants.X_OK);
        list.ok(group, 'exists', `${path} does not exist yet: the middleware creates it at start (mode 0700); --fix creates it now`);
      } catch {
        list.fail(group, 'exists', `${path} does not exist, and uid ${process.getuid?.() ?? '?'} cannot create it (${parent} is not writable): the middleware would refuse to start (ERR_SIGNING_DIR)`, `install -d -m 0700 -o <service user> ${path}`);
      }
      return undefined;
    }
  }
  const info = statSync(path);
  if (!info.isDirectory()) {
    list.fail(group, 'is a directory', `${path} is not a directory`, `move the file away and create the directory: install -d -m 0700 ${path}`);
    return undefined;
  }
  list.ok(group, 'is a directory', path);
  let writable = true;
  try {
    accessSync(path, constants.W_OK);
    SigningDir.open(path, silentLogger, { allowInsecure: true }); // the same probe the middleware makes at start-up (creates and removes a file)
  } catch (error) {
    writable = false;
    const selinux = selinuxEnforcing();
    list.fail(group, 'writable', `${path} is not writable by uid ${process.getuid?.() ?? '?'}: ${(error as KeystoneAuthError).message ?? error}`,
      `chown <service user> ${path} && chmod 0700 ${path}${selinux ? `; SELinux is enforcing: restorecon -R ${path}` : ''}`);
  }
  if (writable) list.ok(group, 'writable', `by uid ${process.getuid?.() ?? '?'}`);
  const uid = process.getuid?.();
  const problems = uid === undefined ? [] : directoryProblems(path, uid);
  const remedy = `chown ${uid} ${path} && chmod 0700 ${path}, and no directory above it writable by others`;
  if (problems.length === 0) list.ok(group, 'trusted', `owned by uid ${info.uid}, mode ${(info.mode & 0o777).toString(8)}, no one else can write it or the directories above it`);
  else if (options.allowInsecureSigningDir) list.warn(group, 'trusted', `${problems.join('; ')} (accepted: allowInsecureSigningDir)`, remedy);
  else list.fail(group, 'trusted', `${problems.join('; ')}: the middleware refuses to start (ERR_SIGNING_DIR_UNSAFE)`, remedy);
  return path;
}

interface CachedFiles {
  signing?: string;
  ca?: string;
  revoked?: { text: string; mtimeMs: number };
  material?: SigningMaterial;
}

function checkFiles(list: Checklist, dir: string | undefined, now: Date): CachedFiles {
  const group = 'files in signing_dir';
  const files: CachedFiles = {};
  if (!dir) {
    list.skip(group, 'files', 'no usable signing_dir');
    return files;
  }
  for (const name of [SIGNING_CERT_FILE, CA_CERT_FILE, REVOKED_FILE]) {
    const path = `${dir}/${name}`;
    if (!existsSync(path)) {
      list.ok(group, name, 'absent: fetched from the identity server on demand');
      continue;
    }
    const info = lstatSync(path);
    const problem = info.isSymbolicLink() ? 'a symbolic link' : fileProblem(info, process.getuid?.());
    if (problem) {
      list.fail(group, name, `${problem}: not trusted; the middleware fetches it again and replaces it`, `rm ${path}`);
      continue;
    }
    const age = Math.round((now.getTime() - info.mtimeMs) / 1000);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      list.fail(group, name, `cannot be read: ${(error as NodeJS.ErrnoException).code}`, `chown the file to the service user, or remove it (it is fetched again)`);
      continue;
    }
    if (name === REVOKED_FILE) {
      files.revoked = { text, mtimeMs: info.mtimeMs };
      list.ok(group, name, `${info.size} bytes, ${age} s old`);
      continue;
    }
    try {
      const certificates = parseCertificates(text, name);
      list.ok(group, name, `${info.size} bytes, ${age} s old, ${certificates.length} certificate(s): ${certificates.map((c) => c.subject).join('; ')}`);
      if (name === SIGNING_CERT_FILE) files.signing = text;
      else files.ca = text;
    } catch (error) {
      list.fail(group, name, `${info.size} bytes, unparseable: ${(error as Error).message}`, 'keystone-authtoken doctor --fix replaces it with the served certificate');
    }
  }
  if (files.signing && files.ca) {
    try {
      files.material = new SigningMaterial({ signingCert: files.signing, caCerts: files.ca });
    } catch {
      // reported above
    }
  }
  return files;
}

interface Served {
  version: ApiVersion;
  /** False when the identity server issues no PKI tokens (Fernet/JWS: its certificate endpoints are gone). */
  pki: boolean;
  signing: string;
  ca: string;
  material?: SigningMaterial;
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = process.hrtime.bigint();
  const value = await run();
  return { value, ms: Math.round(Number(process.hrtime.bigint() - start) / 1e6) };
}

async function checkIdentityServer(list: Checklist, client: IdentityClient, options: ResolvedOptions, source: string): Promise<Served | undefined> {
  const group = 'identity server';
  if (options.insecure) list.warn(group, 'TLS', 'insecure = true: the identity server\'s certificate is not verified', 'set cafile and insecure = false');
  const endpoint = options.identityUri ?? (options.credentials?.kind === 'keystoneauth' ? options.credentials.authUrl : '');
  if (!options.insecure && endpoint.startsWith('https:')) list.ok(group, 'TLS', options.cafile ? `verified against ${options.cafile}` : 'verified against the system CAs');
  else if (!options.insecure) list.warn(group, 'TLS', `${endpoint} is plain http: tokens and the service password cross the network in clear`, 'use https for identity_uri / auth_url');
  let version: ApiVersion;
  try {
    const discovery = new VersionDiscovery(client, options.authVersion);
    const { value, ms } = await timed(() => discovery.resolve());
    version = value;
    list.ok(group, 'reachable', `${client.baseUrl} answered in ${ms} ms; API ${version}${options.authVersion ? ' (auth_version)' : ' (discovered from the version document)'}`);
  } catch (error) {
    const where = options.identityUri ? source : `${client.baseUrl}, ${source}`;
    list.fail(group, 'reachable', (error as Error).message, `the identity endpoint is ${where}: check it, DNS, firewalls and that the identity server runs`);
    return undefined;
  }
  let gone = 0;
  const fetchPem = async (path: string, name: string): Promise<string | undefined> => {
    try {
      const { value: response, ms } = await timed(() => client.request({ path }));
      if (response.status === 404 || response.status === 410) {
        gone++;
        return undefined;
      }
      if (response.status !== 200) {
        list.fail(group, name, `GET ${path} answered ${response.status} in ${ms} ms`, 'the identity server must serve its PKI certificates (keystone-manage pki_setup)');
        return undefined;
      }
      list.ok(group, name, `GET ${path}: 200 in ${ms} ms, ${response.text.length} bytes`);
      return response.text;
    } catch (error) {
      list.fail(group, name, (error as Error).message);
      return undefined;
    }
  };
  const signing = await fetchPem(PATHS[version].signingCert, 'signing certificate endpoint');
  const ca = await fetchPem(PATHS[version].caCert, 'CA certificate endpoint');
  if (gone === 2) {
    // Keystone since Ocata: Fernet/JWS tokens only, OS-SIMPLE-CERT answers 410 Gone. Online validation is what counts.
    list.ok(group, 'token formats', 'the identity server serves no PKI signing certificates (404/410): it issues Fernet or JWS tokens, validated online; the PKI checks are skipped');
    return { version, pki: false, signing: '', ca: '' };
  }
  if (signing === undefined || ca === undefined) return undefined;
  let material: SigningMaterial | undefined;
  try {
    material = new SigningMaterial({ signingCert: signing, caCerts: ca });
  } catch (error) {
    list.fail(group, 'served certificates', `cannot be parsed: ${(error as Error).message}`);
  }
  return { version, pki: true, signing, ca, material };
}

function describe(certificate: ParsedCertificate, now: Date): { status: 'ok' | 'warning' | 'failure'; text: string } {
  const left = certificate.notAfter.getTime() - now.getTime();
  const range = `${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()}`;
  if (left < 0) return { status: 'failure', text: `${certificate.subject} EXPIRED on ${certificate.notAfter.toISOString()}` };
  if (certificate.notBefore.getTime() > now.getTime()) return { status: 'failure', text: `${certificate.subject} is not valid before ${certificate.notBefore.toISOString()}` };
  if (left < 30 * DAY) return { status: 'warning', text: `${certificate.subject} expires in ${Math.floor(left / DAY)} day(s) (${range})` };
  return { status: 'ok', text: `${certificate.subject}, valid ${range}` };
}

function checkCertificates(list: Checklist, served: SigningMaterial | undefined, cached: CachedFiles, now: Date): void {
  const group = 'certificates';
  if (!served) {
    list.skip(group, 'certificates', 'the identity server did not serve usable certificates');
    return;
  }
  if (cached.material) {
    if (cached.material.signer.der.equals(served.signer.der)) list.ok(group, 'cached versus served', 'signing_cert.pem is the certificate the identity server serves');
    else list.fail(group, 'cached versus served', `signing_cert.pem (${cached.material.signer.subject}, serial ${cached.material.signer.serial}) is not the served one (${served.signer.subject}, serial ${served.signer.serial}): the classic stale signing certificate`, 'this library refetches it by itself on the first token; keystone-authtoken doctor --fix replaces it now');
  }
  for (const certificate of [served.signer, ...served.caCerts]) {
    const { status, text } = describe(certificate, now);
    const name = certificate === served.signer ? 'signing certificate validity' : 'CA certificate validity';
    const fix = status === 'ok' ? undefined : 'reissue the certificate on the identity server (keystone-manage pki_setup, or your CA)';
    list.add(group, name, status, text, fix);
  }
  const signer = served.signer;
  const usage = `keyUsage ${signer.describeKeyUsage()}, extendedKeyUsage ${signer.describeExtKeyUsage()}`;
  const keyUsageOk = signer.hasKeyUsage(KeyUsageFlags.digitalSignature) || signer.hasKeyUsage(KeyUsageFlags.nonRepudiation);
  const ekuOk = !signer.extKeyUsage || signer.extKeyUsage.includes('1.3.6.1.5.5.7.3.4');
  if (keyUsageOk && ekuOk) list.ok(group, 'signing certificate purposes', usage);
  else list.fail(group, 'signing certificate purposes', `${usage}: ${!keyUsageOk ? 'keyUsage lacks digitalSignature and nonRepudiation' : 'extendedKeyUsage lacks emailProtection'} (openssl cms -verify would refuse every token: "exit status 4")`, 'reissue the signing certificate with keyUsage = digitalSignature, nonRepudiation and no extendedKeyUsage');
  try {
    const path = served.certificatePath(now);
    list.ok(group, 'chain', path.map((c) => c.subject).join(' <- issued by <- '));
  } catch (error) {
    const code = (error as KeystoneAuthError).code;
    if (code === 'ERR_CERT_PURPOSE' || code === 'ERR_CERT_EXPIRED' || code === 'ERR_CERT_NOT_YET_VALID') list.fail(group, 'chain', `${code}: ${(error as Error).message}`);
    else list.fail(group, 'chain', `${code}: ${(error as Error).message}`, 'serve the whole chain (intermediates and the self-signed root) at the CA endpoint');
  }
}

async function fixCertificates(list: Checklist, dir: string, served: Served, cached: CachedFiles): Promise<void> {
  const stale = !cached.material || !cached.material.signer.der.equals(served.material?.signer.der ?? Buffer.alloc(0)) || cached.ca !== served.ca;
  if (!stale) return;
  try {
    const signingDir = SigningDir.open(dir, silentLogger);
    await signingDir.write(SIGNING_CERT_FILE, served.signing);
    await signingDir.write(CA_CERT_FILE, served.ca);
    list.ok('certificates', 'repair', `${SIGNING_CERT_FILE} and ${CA_CERT_FILE} replaced atomically with the served ones (--fix)`);
  } catch (error) {
    list.fail('certificates', 'repair', (error as Error).message);
  }
}

async function checkRevocations(list: Checklist, client: IdentityClient, adminToken: AdminToken, options: ResolvedOptions, served: Served, dir: string | undefined, now: Date): Promise<Set<string> | undefined> {
  const group = 'revocation list';
  const admin = await adminToken.get();
  try {
    const path = PATHS[served.version].revoked;
    const { value: response, ms } = await timed(() => client.request({ path, headers: { 'x-auth-token': admin } }));
    if (response.status !== 200) {
      list.fail(group, 'revocation list', `GET ${path} answered ${response.status}`, response.status === 403 ? 'give admin_user the admin role' : undefined);
      return undefined;
    }
    const signed = (parseJsonResponse(response, path) as { signed?: string }).signed;
    if (!served.material || typeof signed !== 'string') throw new Error('no "signed" member, or no usable certificates');
    const content = served.material.verify(signed, { maxTokenLength: Number.MAX_SAFE_INTEGER, now }).json() as { revoked?: { id?: string }[] };
    const ids = new Set((content.revoked ?? []).map((entry) => String(entry?.id).toLowerCase()));
    list.ok(group, 'revocation list', `fetched in ${ms} ms, signature verifies, ${ids.size} entr${ids.size === 1 ? 'y' : 'ies'}`);
    const revoked = dir && existsSync(`${dir}/${REVOKED_FILE}`) ? statSync(`${dir}/${REVOKED_FILE}`) : undefined;
    if (revoked) {
      const age = Math.round((now.getTime() - revoked.mtimeMs) / 1000);
      const status = age > Math.max(options.revocationCacheTime * 10, 3600) ? 'warning' : 'ok';
      list.add(group, 'revoked.pem age', status, `${age} s`, status === 'warning' ? 'no service has refreshed the list for a long time: check that it runs and reaches the identity server' : undefined);
    }
    return ids;
  } catch (error) {
    list.fail(group, 'revocation list', (error as Error).message);
    return undefined;
  }
}

function checkToken(list: Checklist, token: string, options: ResolvedOptions, material: SigningMaterial | undefined, revoked: Set<string> | undefined, now: Date): void {
  const group = 'token';
  const format = classifyToken(token);
  const hashes = options.hashAlgorithms.map((algorithm) => hashToken(token, algorithm));
  if (format === 'online') return; // checkOnlineToken
  if (!material) {
    list.fail(group, 'verdict', 'no usable certificates to verify with');
    return;
  }
  try {
    const verified = material.verify(token, { maxTokenLength: options.maxTokenLength, maxInflatedBytes: options.maxInflatedBytes, now });
    const identity = readIdentity(verified.json());
    if (revoked && hashes.some((hash) => revoked.has(hash))) {
      list.fail(group, 'verdict', `REFUSED (ERR_TOKEN_REVOKED): the token (md5 ${hashes[0]}) is on the revocation list`);
      return;
    }
    if (identity.expiresAt.getTime() <= now.getTime()) {
      list.fail(group, 'verdict', `REFUSED (ERR_TOKEN_EXPIRED): expired at ${identity.expiresAt.toISOString()}`);
      return;
    }
    list.ok(group, 'verdict', `VALID: user ${identity.user.name ?? identity.user.id}, project ${identity.project?.name ?? '-'}, roles ${identity.roles.join(',') || '-'}, expires ${identity.expiresAt.toISOString()}${revoked ? '' : ' (revocation not checked)'}`);
  } catch (error) {
    const e = error as KeystoneAuthError;
    list.fail(group, 'verdict', `REFUSED (${e.code ?? 'error'}): ${e.message}`);
  }
}
