import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { hashToken } from '../token/hash.js';
import { parseSignedData } from '../cms/signed-data.js';
import { tokenToDer } from '../token/format.js';
import { tokenBody, type TokenSpec } from './bodies.js';
import { signCms, toPem, toPkiToken, toPkizToken } from './mint.js';
import { fernetToken, jwsKeyPair, jwsToken, type OnlineTokenClaims } from './online-tokens.js';
import { createTestPki, issueCertificate, type TestCertificate, type TestPki } from './pki.js';

/** Faults the server can play, to test what the middleware does about them. */
export type Fault =
  | 'down' // connections refused
  | 'slow' // answers after `slowMs`
  | 'garbage' // 200 with random bytes
  | 'error' // 500
  | 'wrong-certificate' // serves a signing certificate that did not sign its tokens
  | 'huge' // 200 with a body of 64 MiB
  | 'truncated' // the answer's headers, then half of its body, then the connection is cut
  | 'unparseable-revocation-list' // the revocation list, correctly signed, but its signed content is not JSON (cut short)
  | null;

export interface IdentityServerOptions {
  /** Port to listen on (127.0.0.1). Default: a free one. */
  port?: number;
  adminUser?: string;
  adminPassword?: string;
  adminTenant?: string;
  /** A PKI to sign with (root CA and signing certificate). Default: a fresh one made at start. */
  pki?: TestPki;
  /** Delay of the 'slow' fault, in ms. Default 5000. */
  slowMs?: number;
  /** Serve HTTPS with this certificate and key (PEM) instead of HTTP. */
  tls?: { cert: string; key: string };
  /**
   * The identity endpoint the tokens' catalogs name (what a configuration without identity_uri uses). Default:
   * this server. Another URL tests a wrong or unreachable catalog endpoint.
   */
  catalogIdentityUrl?: string;
}

/** One request the server received (for assertions on what the middleware asked for). */
export interface RecordedRequest {
  method: string;
  path: string;
  at: number;
  /** The X-Subject-Token the request carried (a token validation), if any. */
  subjectToken?: string;
}

export interface IssueOptions extends TokenSpec {
  /**
   * fernet and jws (today's Keystone), uuid: validated online by the kit's `GET /v3/auth/tokens`; pki and pkiz
   * (the PKI era): signed, verified in-process. Default pki.
   */
  format?: 'pki' | 'pkiz' | 'uuid' | 'fernet' | 'jws';
}

/**
 * The kit's service user in keystoneauth form, ready to spread into the middleware's options: what a
 * `[keystone_authtoken]` section of today says (no identity_uri: the identity endpoint comes from the catalog,
 * which points at the kit).
 */
export interface ServiceCredentials {
  auth_type: 'password';
  auth_url: string;
  username: string;
  password: string;
  user_domain_name: string;
  project_name: string;
  project_domain_name: string;
}

/**
 * A real identity server on 127.0.0.1 speaking the endpoints the middleware uses, v2.0 and v3: version
 * discovery, certificates, admin authentication, the signed revocation list, online validation. It mints PKI,
 * PKIZ and UUID tokens in TypeScript, structurally the same as Keystone's.
 */
export class IdentityServer {
  readonly requests: RecordedRequest[] = [];
  pki: TestPki;
  url = '';
  private server: Server;
  private readonly sockets = new Set<Socket>();
  private fault: Fault = null;
  private port: number;
  /** Revoked token ids, each with the audit id Keystone lists beside it (none for a pre-Kilo style entry). */
  private readonly revoked = new Map<string, string | undefined>();
  private readonly online = new Map<string, Record<string, unknown>>();
  private readonly adminTokens = new Set<string>();
  private revocationPem: string | undefined;
  private unparseablePem: string | undefined;
  private servedRevocationList: string | undefined;
  private answered: { pem: string; bytes: Buffer } | undefined;
  /** OAuth2 clients (application credentials): id -> secret and the token they get. */
  private readonly oauth2Clients = new Map<string, { secret: string; spec: TokenSpec }>();
  private wrongCertificate: TestCertificate | undefined;
  /** The Fernet key online tokens are encrypted with (signing half, then encryption half), as in a key repository. */
  readonly fernetKey: Buffer = randomBytes(32);
  private readonly jwsKeys = jwsKeyPair();

  private constructor(private readonly options: Required<Omit<IdentityServerOptions, 'pki' | 'port' | 'tls' | 'catalogIdentityUrl'>> & { port: number; tls?: { cert: string; key: string }; catalogIdentityUrl?: string }, pki: TestPki) {
    this.pki = pki;
    this.port = options.port;
    this.server = this.makeServer();
  }

  static async start(options: IdentityServerOptions = {}): Promise<IdentityServer> {
    const pki = options.pki ?? (await createTestPki());
    const server = new IdentityServer(
      { port: options.port ?? 0, adminUser: options.adminUser ?? 'admin', adminPassword: options.adminPassword ?? 'secret', adminTenant: options.adminTenant ?? 'service', slowMs: options.slowMs ?? 5000, tls: options.tls, catalogIdentityUrl: options.catalogIdentityUrl },
      pki,
    );
    await server.listen();
    return server;
  }

  /** The service user in the legacy form: admin_user, admin_password, admin_tenant_name (use with identity_uri). */
  get adminCredentials() {
    return { admin_user: this.options.adminUser, admin_password: this.options.adminPassword, admin_tenant_name: this.options.adminTenant };
  }

  /**
   * The service user in keystoneauth form (auth_type password, auth_url, username, password, user and project
   * domains): spread it into the middleware's options without identity_uri, as the README's configuration does.
   */
  get serviceCredentials(): ServiceCredentials {
    return {
      auth_type: 'password',
      auth_url: `${this.url}/v3`,
      username: this.options.adminUser,
      password: this.options.adminPassword,
      user_domain_name: 'Default',
      project_name: this.options.adminTenant,
      project_domain_name: 'Default',
    };
  }

  /** The public key of the kit's ES256 JWS tokens (PEM), as Keystone's jws_public_key_repository holds it. */
  get jwsPublicKey(): string {
    return this.jwsKeys.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  }

  /** Mints a token; PKI/PKIZ tokens are signed with the current signing certificate. */
  async issueToken(spec: IssueOptions = {}): Promise<string> {
    const body = this.withOwnCatalog(tokenBody(spec));
    const format = spec.format ?? 'pki';
    if (format === 'pki' || format === 'pkiz') return this.sign(body, format);
    const id = this.onlineId(body, format);
    this.online.set(id, body);
    return id;
  }

  /** A token id for an online token body: a Fernet or JWS token of its claims, or a UUID. */
  private onlineId(body: Record<string, unknown>, format: 'uuid' | 'fernet' | 'jws', key: KeyObject = this.jwsKeys.privateKey): string {
    if (format === 'uuid') return randomUUID().replace(/-/g, '');
    const claims = claimsOf(body);
    return format === 'fernet' ? fernetToken(claims, this.fernetKey) : jwsToken(claims, key);
  }

  /** The body with the identity service's endpoints pointing at this server (others keep their example URLs). */
  private withOwnCatalog(body: Record<string, unknown>): Record<string, unknown> {
    const services = ((body.token as { catalog?: unknown })?.catalog ?? (body.access as { serviceCatalog?: unknown })?.serviceCatalog) as Record<string, unknown>[] | undefined;
    const url = `${this.options.catalogIdentityUrl ?? this.url}/${body.access ? 'v2.0' : 'v3'}`;
    for (const service of services ?? []) {
      if (service.type !== 'identity') continue;
      for (const endpoint of service.endpoints as Record<string, unknown>[]) {
        for (const field of ['url', 'publicURL', 'internalURL', 'adminURL']) if (typeof endpoint[field] === 'string') endpoint[field] = url;
      }
    }
    return body;
  }

  /** Signs any body (JSON-serialised, or raw bytes) as a PKI or PKIZ token with the current signing certificate. */
  sign(body: unknown, format: 'pki' | 'pkiz' = 'pki', signer: TestCertificate = this.pki.signing): string {
    const content = body instanceof Uint8Array ? body : Buffer.from(JSON.stringify(body), 'utf8');
    const der = signCms(content, signer);
    return format === 'pkiz' ? toPkizToken(der) : toPkiToken(der);
  }

  /**
   * Puts a token on the revocation list (PKI/PKIZ) or makes online validation answer 404 (UUID). As Keystone
   * (Kilo and later) does, each entry carries the token's first audit id beside its md5 and sha256 ids;
   * `{ auditId: false }` writes an entry as older Keystones did, by id alone.
   */
  revoke(token: string, options: { auditId?: boolean } = {}): void {
    if (this.online.delete(token)) return;
    const auditId = options.auditId === false ? undefined : auditIdOf(token);
    for (const algorithm of ['md5', 'sha256']) this.revoked.set(hashToken(token, algorithm), auditId);
    this.revocationPem = this.unparseablePem = undefined;
  }

  /** Adds ids (token hashes) to the revocation list, e.g. to make it large; `auditIds` are listed beside them. */
  revokeIds(ids: Iterable<string>, auditIds?: Iterable<string>): void {
    const audits = auditIds ? [...auditIds] : [];
    let i = 0;
    for (const id of ids) this.revoked.set(id, audits[i++]);
    this.revocationPem = this.unparseablePem = undefined;
  }

  /**
   * Serves this signed list (PEM CMS, e.g. one captured earlier: a replay) instead of the server's own, until
   * called again without one.
   */
  serveRevocationList(pem: string | undefined): void {
    this.servedRevocationList = pem;
  }

  /** The signed revocation list the server serves now (PEM CMS), to capture and replay later. */
  currentRevocationList(): string {
    return this.servedRevocationList ?? this.revocationList();
  }

  /**
   * An OAuth2 client as Keystone knows one: an application credential whose id and secret obtain access tokens at
   * POST /v3/OS-OAUTH2/token (HTTP Basic, grant_type=client_credentials). The tokens describe `spec` (an
   * application credential token, validated online; `expiresIn` negative for one already expired).
   */
  registerOAuth2Client(spec: TokenSpec = {}): { clientId: string; clientSecret: string } {
    const clientId = randomUUID().replace(/-/g, '');
    const clientSecret = randomBytes(24).toString('base64url');
    this.oauth2Clients.set(clientId, { secret: clientSecret, spec });
    return { clientId, clientSecret };
  }

  /** POST /v3/OS-OAUTH2/token for a registered client, here in the process: the access token. */
  async issueOAuth2Token(client: { clientId: string; clientSecret: string }): Promise<string> {
    const response = await fetch(`${this.url}/v3/OS-OAUTH2/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    const body = (await response.json()) as { access_token?: string };
    if (response.status !== 200 || !body.access_token) throw new Error(`POST /v3/OS-OAUTH2/token answered ${response.status}: ${JSON.stringify(body)}`);
    return body.access_token;
  }

  /** Forgets every admin token issued so far: the next admin request gets 401, as after a Keystone restart. */
  expireAdminTokens(): void {
    for (const id of this.adminTokens) this.online.delete(id);
    this.adminTokens.clear();
  }

  /**
   * Issues a new signing certificate (a new key) from the same CA and signs from now on with it. With
   * `sameSerial`, the new certificate keeps the subject and serial of the old one, as `keystone-manage pki_setup`
   * run again does (serial 1 every time): tokens of the new key name the same issuer and serial.
   */
  async rotateSigningCertificate(options: { sameSerial?: boolean } = {}): Promise<TestCertificate> {
    const old = this.pki.signing;
    const signing = options.sameSerial
      ? await issueCertificate({ commonName: old.subject, subjectName: old.subjectName, subject: old.subject, issuer: this.pki.ca, serial: old.serial })
      : await issueCertificate({ commonName: `Keystone Signing ${randomBytes(3).toString('hex')}`, issuer: this.pki.ca });
    this.pki = { ca: this.pki.ca, signing };
    this.revocationPem = this.unparseablePem = undefined;
    return signing;
  }

  async setFault(fault: Fault): Promise<void> {
    const wasDown = this.fault === 'down';
    this.fault = fault;
    if (fault === 'wrong-certificate' && !this.wrongCertificate) {
      this.wrongCertificate = await issueCertificate({ commonName: 'Keystone Signing (not the one)', issuer: this.pki.ca });
    }
    if (fault === 'down' && !wasDown) {
      await new Promise<void>((resolve) => {
        this.server.close(() => resolve());
        for (const socket of this.sockets) socket.destroy();
      });
    }
    if (fault !== 'down' && wasDown) {
      this.server = this.makeServer();
      await this.listen();
    }
  }

  /** Requests whose path starts with `prefix`. */
  count(prefix: string, method?: string): number {
    return this.requests.filter((r) => r.path.startsWith(prefix) && (!method || r.method === method)).length;
  }

  async close(): Promise<void> {
    if (this.fault === 'down') return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private makeServer(): Server {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    };
    const server: Server = this.options.tls ? createHttpsServer(this.options.tls, handler) : createServer(handler);
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    return server;
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.port = (this.server.address() as AddressInfo).port;
        this.url = `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
        resolve();
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const subject = req.headers['x-subject-token'];
    this.requests.push({ method: req.method ?? 'GET', path, at: Date.now(), ...(typeof subject === 'string' ? { subjectToken: subject } : {}) });
    const body = await readBody(req);
    if (this.fault === 'slow') await new Promise((resolve) => setTimeout(resolve, this.options.slowMs));
    if (this.fault === 'error') return send(res, 500, { error: { code: 500, message: 'fault injected' } });
    if (this.fault === 'garbage') return sendText(res, 200, randomBytes(512), 'application/json');
    if (this.fault === 'huge') return sendText(res, 200, 'x'.repeat(64 * 1024 * 1024), 'application/json');
    if (this.fault === 'truncated') {
      const end = res.end.bind(res);
      res.end = ((chunk?: unknown) => {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer | undefined);
        if (!bytes || bytes.length < 2) return end(chunk as never);
        res.write(bytes.subarray(0, bytes.length >> 1), () => res.socket?.destroy());
        return res;
      }) as typeof res.end;
    }
    const signing = this.fault === 'wrong-certificate' ? this.wrongCertificate! : this.pki.signing;
    switch (`${req.method} ${path}`) {
      case 'GET /':
        return send(res, 300, { versions: { values: [version('v3.14', 'stable', `${this.url}/v3/`), version('v2.0', 'deprecated', `${this.url}/v2.0/`)] } });
      case 'GET /v3':
        return send(res, 200, { version: version('v3.14', 'stable', `${this.url}/v3/`) });
      case 'GET /v2.0':
        return send(res, 200, { version: version('v2.0', 'deprecated', `${this.url}/v2.0/`) });
      case 'GET /v2.0/certificates/signing':
      case 'GET /v3/OS-SIMPLE-CERT/certificates':
        return sendText(res, 200, signing.pem, 'application/x-pem-file');
      case 'GET /v2.0/certificates/ca':
      case 'GET /v3/OS-SIMPLE-CERT/ca':
        return sendText(res, 200, this.pki.ca.pem, 'application/x-pem-file');
      case 'POST /v2.0/tokens':
        return this.authenticate(res, body, 'v2.0');
      case 'POST /v3/auth/tokens':
        return this.authenticate(res, body, 'v3');
      case 'POST /v3/OS-OAUTH2/token':
        return this.oauth2Token(req, res, body);
      case 'GET /v2.0/tokens/revoked':
      case 'GET /v3/auth/tokens/OS-PKI/revoked':
        if (!this.isAdmin(req)) return send(res, 401, { error: { code: 401, message: 'admin token required' } });
        if (this.fault === 'unparseable-revocation-list') return send(res, 200, { signed: this.unparseableRevocationList() });
        return sendText(res, 200, this.revocationAnswer(), 'application/json');
      case 'GET /v3/auth/tokens': {
        if (!this.isAdmin(req)) return send(res, 401, { error: { code: 401 } });
        const found = this.online.get(String(req.headers['x-subject-token'] ?? ''));
        return found && 'token' in found ? send(res, 200, found) : send(res, 404, { error: { code: 404, message: 'token not found' } });
      }
    }
    const v2Token = /^\/v2\.0\/tokens\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && v2Token) {
      if (!this.isAdmin(req)) return send(res, 401, { error: { code: 401 } });
      const found = this.online.get(decodeURIComponent(v2Token[1]!));
      return found && 'access' in found ? send(res, 200, found) : send(res, 404, { error: { code: 404, message: 'token not found' } });
    }
    return send(res, 404, { error: { code: 404, message: `no route ${req.method} ${path}` } });
  }

  private isAdmin(req: IncomingMessage): boolean {
    return this.adminTokens.has(String(req.headers['x-auth-token'] ?? ''));
  }

  private authenticate(res: ServerResponse, raw: string, version: 'v2.0' | 'v3'): void {
    let request: any; // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
      request = JSON.parse(raw);
    } catch {
      return send(res, 400, { error: { code: 400, message: 'body is not JSON' } });
    }
    const credentials = version === 'v3'
      ? { user: request?.auth?.identity?.password?.user?.name, password: request?.auth?.identity?.password?.user?.password, tenant: request?.auth?.scope?.project?.name }
      : { user: request?.auth?.passwordCredentials?.username, password: request?.auth?.passwordCredentials?.password, tenant: request?.auth?.tenantName };
    // v3: the user and the project live in the default domain (named Default, id default), as in a fresh Keystone.
    const domains = version === 'v3' ? [request?.auth?.identity?.password?.user?.domain, request?.auth?.scope?.project?.domain] : [];
    const inDefault = domains.every((domain) => domain === undefined || domain?.id === 'default' || domain?.name === 'Default');
    if (credentials.user !== this.options.adminUser || credentials.password !== this.options.adminPassword || credentials.tenant !== this.options.adminTenant || !inDefault) {
      return send(res, 401, { error: { code: 401, message: 'The request you have made requires authentication.' } });
    }
    const body = this.withOwnCatalog(tokenBody({ user: credentials.user, project: credentials.tenant, roles: ['admin', 'service'], version }));
    const id = version === 'v3' ? this.onlineId(body, 'fernet') : randomUUID().replace(/-/g, '');
    this.adminTokens.add(id);
    this.online.set(id, body);
    if (version === 'v3') return send(res, 201, body, { 'x-subject-token': id });
    (body.access as { token: { id: string } }).token.id = id;
    return send(res, 200, body);
  }

  /** Keystone's OS-OAUTH2 token endpoint: errors in its shape ({ error, error_description }). */
  private oauth2Token(req: IncomingMessage, res: ServerResponse, raw: string): void {
    const oauthError = (status: number, error: string, description: string) =>
      send(res, status, { error, error_description: description }, status === 401 ? { 'www-authenticate': `Keystone uri="${this.url}"` } : {});
    const header = String(req.headers.authorization ?? '');
    const [scheme, encoded] = header.split(' ', 2);
    if (scheme?.toLowerCase() !== 'basic' || !encoded) return oauthError(401, 'invalid_client', 'OAuth2.0 client authorization is required.');
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const [clientId, secret] = colon === -1 ? [decoded, ''] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
    const grant = new URLSearchParams(raw).get('grant_type');
    if (grant === null) return oauthError(400, 'invalid_request', 'The parameter grant_type is required.');
    if (grant !== 'client_credentials') return oauthError(400, 'unsupported_grant_type', `The parameter grant_type ${grant} is not supported.`);
    const client = this.oauth2Clients.get(clientId);
    if (!client || client.secret !== secret) return oauthError(401, 'invalid_client', 'The request you have made requires authentication.');
    const id = randomUUID().replace(/-/g, '');
    const body = tokenBody({ ...client.spec, version: 'v3' }, new Date(), id) as { token: Record<string, unknown> };
    body.token.methods = ['application_credential'];
    body.token.application_credential = { id: clientId, name: `oauth2-${clientId.slice(0, 8)}`, restricted: true };
    this.online.set(id, body);
    return send(res, 200, { access_token: id, token_type: 'Bearer', expires_in: client.spec.expiresIn ?? 3600 });
  }

  /**
   * The answer to GET .../revoked, {"signed": PEM} as Keystone's json.dumps writes it, kept with the list it
   * holds (a list of 1,000,000 entries is a 160 MB answer: serialised once, not per request).
   */
  private revocationAnswer(): Buffer {
    const pem = this.servedRevocationList ?? this.revocationList();
    if (this.answered?.pem !== pem) this.answered = { pem, bytes: Buffer.from(`{"signed": ${JSON.stringify(pem)}}`) };
    return this.answered.bytes;
  }

  private revocationList(): string {
    this.revocationPem ??= toPem(signCms(this.revocationContent(), this.pki.signing));
    return this.revocationPem;
  }

  /** The list's content cut short of its closing "]}" (every entry there, the JSON unterminated), signed. */
  private unparseableRevocationList(): string {
    if (!this.unparseablePem) {
      const content = this.revocationContent();
      this.unparseablePem = toPem(signCms(content.subarray(0, content.length - 2), this.pki.signing));
    }
    return this.unparseablePem;
  }

  /**
   * The list's content as Keystone writes it: `jsonutils.dumps` (Python's separators ", " and ": "), each entry's
   * members in Keystone's order, `expires` as `utils.isotime` gives it (whole seconds, "Z").
   */
  private revocationContent(): Buffer {
    const expires = JSON.stringify(new Date(Date.now() + 24 * 3600 * 1000).toISOString().replace(/\.\d+Z$/, 'Z'));
    const entries: string[] = [];
    for (const [id, auditId] of this.revoked) {
      entries.push(auditId === undefined ? `{"id": ${JSON.stringify(id)}, "expires": ${expires}}` : `{"id": ${JSON.stringify(id)}, "expires": ${expires}, "audit_id": ${JSON.stringify(auditId)}}`);
    }
    return Buffer.from(`{"revoked": [${entries.join(', ')}]}`);
  }
}

function version(id: string, status: string, href: string) {
  return { id, status, updated: '2026-01-01T00:00:00Z', links: [{ rel: 'self', href }], 'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity+json' }] };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendText(res, status, JSON.stringify(body), 'application/json', headers);
}

function sendText(res: ServerResponse, status: number, text: string | Buffer, type: string, headers: Record<string, string> = {}): void {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  res.writeHead(status, { 'content-type': type, 'content-length': bytes.length, ...headers });
  res.end(bytes);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 1024 * 1024) chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The first audit id in a PKI or PKIZ token's body (read without verifying: the server signed it). */
function auditIdOf(token: string): string | undefined {
  try {
    const body = JSON.parse(Buffer.from(parseSignedData(tokenToDer(token)).content).toString('utf8'));
    const ids = (body?.token ?? body?.access?.token)?.audit_ids;
    return Array.isArray(ids) && typeof ids[0] === 'string' ? ids[0] : undefined;
  } catch {
    return undefined;
  }
}

/** The fields a Fernet or JWS token id carries, read from a token body the kit made. */
function claimsOf(body: Record<string, unknown>): OnlineTokenClaims {
  const token = body.token as { user: { id: string }; methods?: string[]; project?: { id: string }; domain?: { id: string }; system?: { all?: boolean }; expires_at: string; issued_at?: string; audit_ids: string[] } | undefined;
  if (!token) {
    const access = (body.access as { token: { expires: string; issued_at?: string; tenant?: { id: string }; audit_ids: string[] }; user: { id: string } });
    return { userId: access.user.id, projectId: access.token.tenant?.id, expiresAt: new Date(access.token.expires), issuedAt: access.token.issued_at ? new Date(access.token.issued_at) : undefined, auditIds: access.token.audit_ids };
  }
  return {
    userId: token.user.id,
    methods: token.methods,
    projectId: token.project?.id,
    domainId: token.domain?.id,
    system: token.system?.all ? 'all' : undefined,
    expiresAt: new Date(token.expires_at),
    issuedAt: token.issued_at ? new Date(token.issued_at) : undefined,
    auditIds: token.audit_ids,
  };
}

/** Starts an identity server on 127.0.0.1 with its own test PKI. */
export function startIdentityServer(options: IdentityServerOptions = {}): Promise<IdentityServer> {
  return IdentityServer.start(options);
}
