import { ConfigError } from './errors.js';
import { isHashAlgorithm } from './token/hash.js';
import type { IncomingMessage } from 'node:http';
import type { Logger } from './logger.js';
import type { TokenStore } from './cache/token-store.js';
import { resolveCredentials, type ServiceCredentials } from './identity/credentials.js';
import { compileUnless, type Unless } from './adapters/core.js';

/** A note on one option (or a few), found while resolving; reads as its message. */
export class OptionWarning {
  constructor(
    /** The option(s) concerned, as named in keystone_authtoken (comma-separated when several). */
    readonly option: string,
    readonly message: string,
  ) {}

  toString(): string {
    return this.message;
  }
}

type OptionType = 'string' | 'int' | 'float' | 'bool' | 'list' | 'object' | 'function';

/** One option: its name in keystone_authtoken, type, default and help. The README table is generated from these. */
export interface OptionDeclaration {
  name: string;
  type: OptionType;
  default: string | number | boolean | string[] | undefined;
  help: string;
  secret?: boolean;
  choices?: string[];
  legacy?: boolean;
}

/** The keystone_authtoken options, with keystonemiddleware's names, meanings and defaults. */
export const OPTION_DECLARATIONS: readonly OptionDeclaration[] = [
  { name: 'www_authenticate_uri', type: 'string', default: undefined, help: 'Public identity endpoint named in WWW-Authenticate of 401 answers. Falls back to auth_uri, then (with a warning) identity_uri.' },
  { name: 'auth_uri', type: 'string', default: undefined, help: 'Public identity endpoint (deprecated in favour of www_authenticate_uri); also the fallback of identity_uri.' },
  { name: 'identity_uri', type: 'string', default: undefined, help: 'Admin identity endpoint the middleware talks to, e.g. http://127.0.0.1:35357/. Overrides auth_host/auth_port/auth_protocol/auth_admin_prefix.' },
  { name: 'auth_host', type: 'string', default: '127.0.0.1', help: 'Legacy: host of the admin identity endpoint (use identity_uri).', legacy: true },
  { name: 'auth_port', type: 'int', default: 35357, help: 'Legacy: port of the admin identity endpoint (use identity_uri).', legacy: true },
  { name: 'auth_protocol', type: 'string', default: 'https', help: 'Legacy: http or https for the admin identity endpoint (use identity_uri).', choices: ['http', 'https'], legacy: true },
  { name: 'auth_admin_prefix', type: 'string', default: '', help: 'Legacy: path prefix of the admin identity endpoint (use identity_uri).', legacy: true },
  { name: 'auth_version', type: 'string', default: undefined, help: 'Identity API version to use: v2.0 or v3. Unset: discovered from the identity server, preferring v3.', choices: ['v2.0', 'v3', '2', '2.0', '3', 'v2'] },
  { name: 'delay_auth_decision', type: 'bool', default: false, help: 'Do not answer 401 for missing or invalid tokens: set X-Identity-Status: Invalid and let the application decide.' },
  { name: 'http_connect_timeout', type: 'int', default: undefined, help: 'Seconds to wait for the identity server (connection and answer). Unset: 10.' },
  { name: 'http_request_max_retries', type: 'int', default: 3, help: 'How many times a failed request to the identity server is retried, with backoff. Not the download of the revocation list: a failed refresh of the list waits for its own back-off.' },
  { name: 'admin_token', type: 'string', default: undefined, help: 'A fixed admin token for the identity server (bootstrap only; prefer admin_user/admin_password).', secret: true },
  { name: 'admin_user', type: 'string', default: undefined, help: 'Service user that validates tokens and fetches the revocation list.' },
  { name: 'admin_password', type: 'string', default: undefined, help: 'Password of admin_user.', secret: true },
  { name: 'admin_tenant_name', type: 'string', default: 'admin', help: 'Project (tenant) of admin_user.' },
  { name: 'cache', type: 'object', default: undefined, help: 'In Python, the WSGI environment key of a cache object. Here: an object with async get(key) and set(key, value, ttlSeconds), e.g. a Redis store.' },
  { name: 'certfile', type: 'string', default: undefined, help: 'Client certificate (PEM file) for TLS to the identity server.' },
  { name: 'keyfile', type: 'string', default: undefined, help: 'Private key (PEM file) of certfile.' },
  { name: 'cafile', type: 'string', default: undefined, help: 'CA bundle (PEM file) to verify the identity server\'s TLS certificate. Unset: the system CAs.' },
  { name: 'insecure', type: 'bool', default: false, help: 'Do not verify the identity server\'s TLS certificate (tests only).' },
  { name: 'signing_dir', type: 'string', default: undefined, help: 'Directory for signing_cert.pem, cacert.pem and revoked.pem. Unset: a fresh private temporary directory.' },
  { name: 'memcached_servers', type: 'list', default: undefined, help: 'host:port of memcached servers for a token cache shared by several API nodes. Unset: in-process cache only.' },
  { name: 'token_cache_time', type: 'int', default: 300, help: 'Seconds a validated token is cached (never past its expiry). -1 disables the cache.' },
  { name: 'revocation_cache_time', type: 'int', default: 10, help: 'Seconds between refreshes of the revocation list (PKI) and between polls of Keystone\'s revocation events (online tokens, see revocationEvents): how stale revocation may be.' },
  { name: 'memcache_security_strategy', type: 'string', default: 'None', help: 'Protection of memcached entries: None, MAC (authenticated) or ENCRYPT (authenticated and encrypted).', choices: ['None', 'MAC', 'ENCRYPT'] },
  { name: 'memcache_secret_key', type: 'string', default: undefined, help: 'Secret of memcache_security_strategy MAC or ENCRYPT.', secret: true },
  { name: 'memcache_tls_enabled', type: 'bool', default: false, help: 'Talk to memcached_servers over TLS only (never falling back to plain TCP); the server certificate is verified, host name included.' },
  { name: 'memcache_tls_cafile', type: 'string', default: undefined, help: 'CA bundle (PEM file) to verify the memcached servers\' certificates. Unset: the system CAs.' },
  { name: 'memcache_tls_certfile', type: 'string', default: undefined, help: 'Client certificate (PEM file) presented to memcached (with memcache_tls_keyfile).' },
  { name: 'memcache_tls_keyfile', type: 'string', default: undefined, help: 'Private key (PEM file) of memcache_tls_certfile. Unset: the key is read from memcache_tls_certfile.' },
  { name: 'memcache_tls_allowed_ciphers', type: 'string', default: undefined, help: 'OpenSSL cipher list allowed for TLS to memcached (TLS 1.2 and below). Unset: Node\'s defaults.' },
  { name: 'include_service_catalog', type: 'bool', default: true, help: 'Set X-Service-Catalog (v3 catalogs converted to the v2 shape).' },
  { name: 'enforce_token_bind', type: 'string', default: 'permissive', help: 'Token binding: disabled, permissive, strict, required, or the name of a bind method that must be present.' },
  { name: 'check_revocations_for_cached', type: 'bool', default: false, help: 'Check cached PKI tokens against the revocation list on every request.' },
  { name: 'hash_algorithms', type: 'list', default: ['md5'], help: 'Hash algorithms for PKI token ids: the first names in-process cache entries, all are checked against the revocation list.' },
  { name: 'service_token_roles', type: 'list', default: ['service'], help: 'A service token (X-Service-Token) must carry one of these roles to be reported as valid.' },
  { name: 'service_token_roles_required', type: 'bool', default: true, help: 'Refuse service tokens without one of service_token_roles. Default true (keystonemiddleware 10.1 still defaults to false, with a deprecation warning): a token without a service role must not pass as a service token.' },
  { name: 'service_type', type: 'string', default: undefined, help: 'This service\'s type in the catalog (e.g. compute): application credential access rules are enforced against it. Unset: tokens with access rules are refused.' },
  { name: 'interface', type: 'string', default: 'internal', help: 'Which catalog endpoint of the identity service to use when identity_uri is unset: public, internal or admin.', choices: ['public', 'internal', 'admin'] },
  { name: 'region_name', type: 'string', default: undefined, help: 'The region whose identity endpoint to use from the catalog.' },
  { name: 'auth_type', type: 'string', default: undefined, help: 'keystoneauth plugin of the service user: password (v3password), v3applicationcredential or v3token (v2password for old clouds). With auth_url, replaces admin_user/admin_password.' },
  { name: 'auth_url', type: 'string', default: undefined, help: 'Where the service user authenticates (keystoneauth), e.g. http://keystone:5000/v3. Without identity_uri, the identity endpoint is then found in the service catalog (interface, region_name).' },
  { name: 'username', type: 'string', default: undefined, help: 'Service user name (auth_type password), with user_domain_name or user_domain_id.' },
  { name: 'user_id', type: 'string', default: undefined, help: 'Service user id (instead of username).' },
  { name: 'password', type: 'string', default: undefined, help: 'Service user password.', secret: true },
  { name: 'user_domain_name', type: 'string', default: undefined, help: 'Domain name of username (any domain, not only Default).' },
  { name: 'user_domain_id', type: 'string', default: undefined, help: 'Domain id of username.' },
  { name: 'project_name', type: 'string', default: undefined, help: 'Project the service user scopes to, with project_domain_name or project_domain_id.' },
  { name: 'project_id', type: 'string', default: undefined, help: 'Project id the service user scopes to.' },
  { name: 'project_domain_name', type: 'string', default: undefined, help: 'Domain name of project_name.' },
  { name: 'project_domain_id', type: 'string', default: undefined, help: 'Domain id of project_name.' },
  { name: 'domain_name', type: 'string', default: undefined, help: 'Domain the service user scopes to (instead of a project).' },
  { name: 'domain_id', type: 'string', default: undefined, help: 'Domain id the service user scopes to.' },
  { name: 'default_domain_name', type: 'string', default: undefined, help: 'Domain name used for the user and project when their own domain options are unset.' },
  { name: 'default_domain_id', type: 'string', default: undefined, help: 'Domain id used for the user and project when their own domain options are unset.' },
  { name: 'system_scope', type: 'string', default: undefined, help: 'Scope the service user to the system (all) instead of a project.' },
  { name: 'trust_id', type: 'string', default: undefined, help: 'Scope the service user to a trust.' },
  { name: 'tenant_name', type: 'string', default: undefined, help: 'v2 name of project_name.' },
  { name: 'tenant_id', type: 'string', default: undefined, help: 'v2 name of project_id.' },
  { name: 'application_credential_id', type: 'string', default: undefined, help: 'Application credential id (auth_type v3applicationcredential).' },
  { name: 'application_credential_name', type: 'string', default: undefined, help: 'Application credential name, with the user (username and user_domain_name, or user_id).' },
  { name: 'application_credential_secret', type: 'string', default: undefined, help: 'Application credential secret.', secret: true },
  { name: 'token', type: 'string', default: undefined, help: 'A token the service user authenticates with (auth_type v3token).', secret: true },
];

/** Node-specific options (camelCase, so they never collide with keystone_authtoken names). */
export const EXTRA_DECLARATIONS: readonly OptionDeclaration[] = [
  { name: 'logger', type: 'object', default: undefined, help: 'A pino-compatible logger ({ debug, info, warn, error }). Default: warnings and errors on stderr.' },
  { name: 'maxTokenLength', type: 'int', default: 65536, help: 'Longest token accepted, in characters, checked before decoding.' },
  { name: 'maxOnlineTokenLength', type: 'int', default: 4096, help: 'Longest online token (Fernet, JWS, UUID) sent to the identity server for validation, in characters; a longer one gets 401 ERR_TOKEN_TOO_LONG without a request. Keystone issues Fernet tokens of 180-250 characters and JWS tokens of 500-1,000 (measured on Keystone 22); a Keystone under uwsgi drops the connection for a token of about 4 KB.' },
  { name: 'validationDeadline', type: 'float', default: 15, help: 'Seconds one uncached token validation may take in all (identity server requests, http_request_max_retries retries and their backoff included) before it gets 503 ERR_IDENTITY_TIMEOUT. Under the 30-60 s a load balancer in front of the service waits, leaving the application the rest.' },
  { name: 'maxInflatedBytes', type: 'int', default: 1048576, help: 'Largest inflated PKIZ token in bytes (zlib bomb guard).' },
  { name: 'cacheMaxEntries', type: 'int', default: 10000, help: 'Entries of the in-process token cache.' },
  { name: 'cacheMaxBytes', type: 'int', default: 67108864, help: 'Approximate bytes of the in-process token cache.' },
  { name: 'certificateRefetchCooldown', type: 'int', default: 60, help: 'Seconds between two refetches of the signing certificates caused by tokens from an unknown signer.' },
  { name: 'revocationMaxStaleness', type: 'int', default: 300, help: 'Seconds a revocation list may be used past its refresh time while the identity server cannot give a new one; past it, uncached PKI tokens get 503.' },
  { name: 'identityResponseMaxBytes', type: 'int', default: 67108864, help: 'Largest answer accepted from the identity server, in bytes, the revocation list aside.' },
  { name: 'revocationListMaxBytes', type: 'int', default: 268435456, help: 'Largest revocation list answer accepted, in bytes: a list of 1,000,000 entries with audit ids is about 160 MB. It is decoded as it arrives, its ids read on a worker thread, and kept as about 40 bytes per entry.' },
  { name: 'remoteUser', type: 'function', default: undefined, help: "(req) => the Kerberos principal the request authenticated as, or undefined: keystonemiddleware's REMOTE_USER (e.g. read from a header your authenticating proxy sets and clients cannot). Tokens bound to Kerberos need it under enforce_token_bind." },
  { name: 'allowInsecureSigningDir', type: 'bool', default: false, help: 'Use a signing_dir that another user owns or can write, and files in it that are symbolic links or another user\'s, with a warning instead of refusing: only where another trusted account manages the directory.' },
  { name: 'circuitBreakerThreshold', type: 'int', default: 5, help: 'Consecutive identity server outages (unreachable, timeout, 5xx) after which uncached requests get 503 at once instead of each waiting for its timeout.' },
  { name: 'circuitBreakerHalfOpenAfter', type: 'int', default: 10, help: 'Seconds the circuit stays open before one request probes the identity server again (503 answers carry Retry-After until then).' },
  { name: 'unless', type: 'object', default: undefined, help: 'Requests left alone (forged identity headers are still stripped): { path: ["/healthz", /^\\/public\\//], method: ["OPTIONS"] } or ({ method, path }) => boolean.' },
  { name: 'onError', type: 'string', default: 'respond', help: "What a refused request gets: respond (the middleware answers 401/503 itself) or next (next(err) with the KeystoneAuthError, carrying status, code and the headers to send, for the application's error handler).", choices: ['respond', 'next'] },
  { name: 'exposeReason', type: 'bool', default: true, help: 'Put the error code (e.g. ERR_TOKEN_EXPIRED) as "reason" in 401/503 bodies. False keeps it out of what clients see; it is still logged.' },
  { name: 'ignoredOptions', type: 'list', default: undefined, help: 'Set by loadConfig: options of the config section this library does not use (memcache pool tuning, ...), and options of the auth_section that are not the auth plugin\'s (as "[section] name"); each is named in a warning at start-up.' },
  { name: 'revocationEvents', type: 'bool', default: true, help: "Poll Keystone's revocation events (GET /v3/OS-REVOKE/events) every revocation_cache_time and refuse cached online tokens they revoke (token revoked, user disabled, deleted or password changed, project or trust deleted). Needs service credentials (the service user's role admin or service); false: cached tokens stay valid until token_cache_time, as in keystonemiddleware." },
  { name: 'memcacheTimeout', type: 'int', default: 200, help: 'Milliseconds to wait for memcached before going on without the shared cache.' },
  { name: 'tokenSource', type: 'string', default: 'x-auth-token', help: "Where the user token is read: x-auth-token (X-Auth-Token or X-Storage-Token, with X-Service-Token: auth_token) or bearer (Authorization: Bearer only, an OAuth2 client-credentials access token: keystonemiddleware's oauth2_token filter). oauth2Token() sets bearer.", choices: ['x-auth-token', 'bearer'] },
];

/** Options as users write them: keystone_authtoken names, with values typed or as strings from an INI file. */
export interface AuthTokenOptions {
  /**
   * `[keystone_authtoken] www_authenticate_uri`. Public identity endpoint named in WWW-Authenticate of 401 answers.
   * Falls back to auth_uri, then (with a warning) identity_uri.
   */
  www_authenticate_uri?: string;
  /**
   * `[keystone_authtoken] auth_uri`. Public identity endpoint (deprecated in favour of www_authenticate_uri); also
   * the fallback of identity_uri.
   */
  auth_uri?: string;
  /**
   * `[keystone_authtoken] identity_uri`. Admin identity endpoint the middleware talks to, e.g.
   * http://127.0.0.1:35357/. Overrides auth_host/auth_port/auth_protocol/auth_admin_prefix.
   */
  identity_uri?: string;
  /**
   * `[keystone_authtoken] auth_host`. Legacy: host of the admin identity endpoint (use identity_uri). Default:
   * `127.0.0.1`.
   */
  auth_host?: string;
  /**
   * `[keystone_authtoken] auth_port`. Legacy: port of the admin identity endpoint (use identity_uri). Default:
   * `35357`.
   */
  auth_port?: number | string;
  /**
   * `[keystone_authtoken] auth_protocol`. Legacy: http or https for the admin identity endpoint (use identity_uri).
   * Default: `https`.
   */
  auth_protocol?: 'http' | 'https';
  /** `[keystone_authtoken] auth_admin_prefix`. Legacy: path prefix of the admin identity endpoint (use identity_uri). */
  auth_admin_prefix?: string;
  /**
   * `[keystone_authtoken] auth_version`. Identity API version to use: v2.0 or v3. Unset: discovered from the identity
   * server, preferring v3.
   */
  auth_version?: string;
  /**
   * `[keystone_authtoken] delay_auth_decision`. Do not answer 401 for missing or invalid tokens: set
   * X-Identity-Status: Invalid and let the application decide. Default: `false`.
   */
  delay_auth_decision?: boolean | string;
  /**
   * `[keystone_authtoken] http_connect_timeout`. Seconds to wait for the identity server (connection and answer).
   * Unset: 10.
   */
  http_connect_timeout?: number | string;
  /**
   * `[keystone_authtoken] http_request_max_retries`. How many times a failed request to the identity server is
   * retried, with backoff. Not the download of the revocation list: a failed refresh of the list waits for its own
   * back-off. Default: `3`.
   */
  http_request_max_retries?: number | string;
  /**
   * `[keystone_authtoken] admin_token`. A fixed admin token for the identity server (bootstrap only; prefer
   * admin_user/admin_password).
   */
  admin_token?: string;
  /** `[keystone_authtoken] admin_user`. Service user that validates tokens and fetches the revocation list. */
  admin_user?: string;
  /** `[keystone_authtoken] admin_password`. Password of admin_user. */
  admin_password?: string;
  /** `[keystone_authtoken] admin_tenant_name`. Project (tenant) of admin_user. Default: `admin`. */
  admin_tenant_name?: string;
  /**
   * `[keystone_authtoken] cache`. In Python, the WSGI environment key of a cache object. Here: an object with async
   * get(key) and set(key, value, ttlSeconds), e.g. a Redis store.
   */
  cache?: TokenStore;
  /** `[keystone_authtoken] certfile`. Client certificate (PEM file) for TLS to the identity server. */
  certfile?: string;
  /** `[keystone_authtoken] keyfile`. Private key (PEM file) of certfile. */
  keyfile?: string;
  /**
   * `[keystone_authtoken] cafile`. CA bundle (PEM file) to verify the identity server's TLS certificate. Unset: the
   * system CAs.
   */
  cafile?: string;
  /**
   * `[keystone_authtoken] insecure`. Do not verify the identity server's TLS certificate (tests only). Default:
   * `false`.
   */
  insecure?: boolean | string;
  /**
   * `[keystone_authtoken] signing_dir`. Directory for signing_cert.pem, cacert.pem and revoked.pem. Unset: a fresh
   * private temporary directory.
   */
  signing_dir?: string;
  /**
   * `[keystone_authtoken] memcached_servers`. host:port of memcached servers for a token cache shared by several API
   * nodes. Unset: in-process cache only.
   */
  memcached_servers?: string[] | string;
  /**
   * `[keystone_authtoken] token_cache_time`. Seconds a validated token is cached (never past its expiry). -1 disables
   * the cache. Default: `300`.
   */
  token_cache_time?: number | string;
  /**
   * `[keystone_authtoken] revocation_cache_time`. Seconds between refreshes of the revocation list (PKI) and between
   * polls of Keystone's revocation events (online tokens, see revocationEvents): how stale revocation may be.
   * Default: `10`.
   */
  revocation_cache_time?: number | string;
  /**
   * `[keystone_authtoken] memcache_security_strategy`. Protection of memcached entries: None, MAC (authenticated) or
   * ENCRYPT (authenticated and encrypted). Default: `None`.
   */
  memcache_security_strategy?: 'None' | 'MAC' | 'ENCRYPT' | string;
  /** `[keystone_authtoken] memcache_secret_key`. Secret of memcache_security_strategy MAC or ENCRYPT. */
  memcache_secret_key?: string;
  /**
   * `[keystone_authtoken] memcache_tls_enabled`. Talk to memcached_servers over TLS only (never falling back to plain
   * TCP); the server certificate is verified, host name included. Default: `false`.
   */
  memcache_tls_enabled?: boolean | string;
  /**
   * `[keystone_authtoken] memcache_tls_cafile`. CA bundle (PEM file) to verify the memcached servers' certificates.
   * Unset: the system CAs.
   */
  memcache_tls_cafile?: string;
  /**
   * `[keystone_authtoken] memcache_tls_certfile`. Client certificate (PEM file) presented to memcached (with
   * memcache_tls_keyfile).
   */
  memcache_tls_certfile?: string;
  /**
   * `[keystone_authtoken] memcache_tls_keyfile`. Private key (PEM file) of memcache_tls_certfile. Unset: the key is
   * read from memcache_tls_certfile.
   */
  memcache_tls_keyfile?: string;
  /**
   * `[keystone_authtoken] memcache_tls_allowed_ciphers`. OpenSSL cipher list allowed for TLS to memcached (TLS 1.2
   * and below). Unset: Node's defaults.
   */
  memcache_tls_allowed_ciphers?: string;
  /**
   * `[keystone_authtoken] include_service_catalog`. Set X-Service-Catalog (v3 catalogs converted to the v2 shape).
   * Default: `true`.
   */
  include_service_catalog?: boolean | string;
  /**
   * `[keystone_authtoken] enforce_token_bind`. Token binding: disabled, permissive, strict, required, or the name of
   * a bind method that must be present. Default: `permissive`.
   */
  enforce_token_bind?: string;
  /**
   * `[keystone_authtoken] check_revocations_for_cached`. Check cached PKI tokens against the revocation list on every
   * request. Default: `false`.
   */
  check_revocations_for_cached?: boolean | string;
  /**
   * `[keystone_authtoken] hash_algorithms`. Hash algorithms for PKI token ids: the first names in-process cache
   * entries, all are checked against the revocation list. Default: `md5`.
   */
  hash_algorithms?: string[] | string;
  /**
   * `[keystone_authtoken] service_token_roles`. A service token (X-Service-Token) must carry one of these roles to be
   * reported as valid. Default: `service`.
   */
  service_token_roles?: string[] | string;
  /**
   * `[keystone_authtoken] service_token_roles_required`. Refuse service tokens without one of service_token_roles.
   * Default true (keystonemiddleware 10.1 still defaults to false, with a deprecation warning): a token without a
   * service role must not pass as a service token. Default: `true`.
   */
  service_token_roles_required?: boolean | string;
  /** A pino-compatible logger ({ debug, info, warn, error }). Default: warnings and errors on stderr. */
  logger?: Logger;
  /**
   * (req) => the Kerberos principal the request authenticated as, or undefined: keystonemiddleware's REMOTE_USER
   * (e.g. read from a header your authenticating proxy sets and clients cannot). Tokens bound to Kerberos need it
   * under enforce_token_bind.
   */
  remoteUser?: (req: IncomingMessage) => string | undefined;
  /** Longest token accepted, in characters, checked before decoding. Default: `65536`. */
  maxTokenLength?: number;
  /** Largest inflated PKIZ token in bytes (zlib bomb guard). Default: `1048576`. */
  maxInflatedBytes?: number;
  /**
   * Longest online token (Fernet, JWS, UUID) sent to the identity server for validation, in characters; a longer one
   * gets 401 ERR_TOKEN_TOO_LONG without a request. Keystone issues Fernet tokens of 180-250 characters and JWS tokens
   * of 500-1,000 (measured on Keystone 22); a Keystone under uwsgi drops the connection for a token of about 4 KB.
   * Default: `4096`.
   */
  maxOnlineTokenLength?: number | string;
  /**
   * Seconds one uncached token validation may take in all (identity server requests, http_request_max_retries retries
   * and their backoff included) before it gets 503 ERR_IDENTITY_TIMEOUT. Under the 30-60 s a load balancer in front
   * of the service waits, leaving the application the rest. Default: `15`.
   */
  validationDeadline?: number | string;
  /** Entries of the in-process token cache. Default: `10000`. */
  cacheMaxEntries?: number;
  /** Approximate bytes of the in-process token cache. Default: `67108864`. */
  cacheMaxBytes?: number;
  /** Seconds between two refetches of the signing certificates caused by tokens from an unknown signer. Default: `60`. */
  certificateRefetchCooldown?: number;
  /**
   * Seconds a revocation list may be used past its refresh time while the identity server cannot give a new one; past
   * it, uncached PKI tokens get 503. Default: `300`.
   */
  revocationMaxStaleness?: number;
  /** Largest answer accepted from the identity server, in bytes, the revocation list aside. Default: `67108864`. */
  identityResponseMaxBytes?: number;
  /**
   * Largest revocation list answer accepted, in bytes: a list of 1,000,000 entries with audit ids is about 160 MB. It
   * is decoded as it arrives, its ids read on a worker thread, and kept as about 40 bytes per entry. Default:
   * `268435456`.
   */
  revocationListMaxBytes?: number;
  /** Milliseconds to wait for memcached before going on without the shared cache. Default: `200`. */
  memcacheTimeout?: number;
  /**
   * Where the user token is read: x-auth-token (X-Auth-Token or X-Storage-Token, with X-Service-Token: auth_token) or
   * bearer (Authorization: Bearer only, an OAuth2 client-credentials access token: keystonemiddleware's oauth2_token
   * filter). oauth2Token() sets bearer. Default: `x-auth-token`.
   */
  tokenSource?: 'x-auth-token' | 'bearer';
  /**
   * Use a signing_dir that another user owns or can write, and files in it that are symbolic links or another user's,
   * with a warning instead of refusing: only where another trusted account manages the directory. Default: `false`.
   */
  allowInsecureSigningDir?: boolean | string;
  /**
   * Poll Keystone's revocation events (GET /v3/OS-REVOKE/events) every revocation_cache_time and refuse cached online
   * tokens they revoke (token revoked, user disabled, deleted or password changed, project or trust deleted). Needs
   * service credentials (the service user's role admin or service); false: cached tokens stay valid until
   * token_cache_time, as in keystonemiddleware. Default: `true`.
   */
  revocationEvents?: boolean | string;
  /**
   * Set by loadConfig: options of the config section this library does not use (memcache pool tuning, ...), and
   * options of the auth_section that are not the auth plugin's (as "[section] name"); each is named in a warning at
   * start-up.
   */
  ignoredOptions?: string[];
  /**
   * What a refused request gets: respond (the middleware answers 401/503 itself) or next (next(err) with the
   * KeystoneAuthError, carrying status, code and the headers to send, for the application's error handler). Default:
   * `respond`.
   */
  onError?: 'respond' | 'next';
  /**
   * Put the error code (e.g. ERR_TOKEN_EXPIRED) as "reason" in 401/503 bodies. False keeps it out of what clients
   * see; it is still logged. Default: `true`.
   */
  exposeReason?: boolean | string;
  /**
   * Requests left alone (forged identity headers are still stripped): { path: ["/healthz", /^\/public\//], method:
   * ["OPTIONS"] } or ({ method, path }) => boolean.
   */
  unless?: Unless;
  /**
   * Consecutive identity server outages (unreachable, timeout, 5xx) after which uncached requests get 503 at once
   * instead of each waiting for its timeout. Default: `5`.
   */
  circuitBreakerThreshold?: number | string;
  /**
   * Seconds the circuit stays open before one request probes the identity server again (503 answers carry Retry-After
   * until then). Default: `10`.
   */
  circuitBreakerHalfOpenAfter?: number | string;
  /**
   * `[keystone_authtoken] service_type`. This service's type in the catalog (e.g. compute): application credential
   * access rules are enforced against it. Unset: tokens with access rules are refused.
   */
  service_type?: string;
  /**
   * `[keystone_authtoken] interface`. Which catalog endpoint of the identity service to use when identity_uri is
   * unset: public, internal or admin. Default: `internal`.
   */
  interface?: string;
  /** `[keystone_authtoken] region_name`. The region whose identity endpoint to use from the catalog. */
  region_name?: string;
  /**
   * `[keystone_authtoken] auth_type`. keystoneauth plugin of the service user: password (v3password),
   * v3applicationcredential or v3token (v2password for old clouds). With auth_url, replaces
   * admin_user/admin_password.
   */
  auth_type?: string;
  /**
   * `[keystone_authtoken] auth_url`. Where the service user authenticates (keystoneauth), e.g.
   * http://keystone:5000/v3. Without identity_uri, the identity endpoint is then found in the service catalog
   * (interface, region_name).
   */
  auth_url?: string;
  /** `[keystone_authtoken] username`. Service user name (auth_type password), with user_domain_name or user_domain_id. */
  username?: string;
  /** `[keystone_authtoken] user_id`. Service user id (instead of username). */
  user_id?: string;
  /** `[keystone_authtoken] password`. Service user password. */
  password?: string;
  /** `[keystone_authtoken] user_domain_name`. Domain name of username (any domain, not only Default). */
  user_domain_name?: string;
  /** `[keystone_authtoken] user_domain_id`. Domain id of username. */
  user_domain_id?: string;
  /**
   * `[keystone_authtoken] project_name`. Project the service user scopes to, with project_domain_name or
   * project_domain_id.
   */
  project_name?: string;
  /** `[keystone_authtoken] project_id`. Project id the service user scopes to. */
  project_id?: string;
  /** `[keystone_authtoken] project_domain_name`. Domain name of project_name. */
  project_domain_name?: string;
  /** `[keystone_authtoken] project_domain_id`. Domain id of project_name. */
  project_domain_id?: string;
  /** `[keystone_authtoken] domain_name`. Domain the service user scopes to (instead of a project). */
  domain_name?: string;
  /** `[keystone_authtoken] domain_id`. Domain id the service user scopes to. */
  domain_id?: string;
  /**
   * `[keystone_authtoken] default_domain_name`. Domain name used for the user and project when their own domain
   * options are unset.
   */
  default_domain_name?: string;
  /**
   * `[keystone_authtoken] default_domain_id`. Domain id used for the user and project when their own domain options
   * are unset.
   */
  default_domain_id?: string;
  /** `[keystone_authtoken] system_scope`. Scope the service user to the system (all) instead of a project. */
  system_scope?: string;
  /** `[keystone_authtoken] trust_id`. Scope the service user to a trust. */
  trust_id?: string;
  /** `[keystone_authtoken] tenant_name`. v2 name of project_name. */
  tenant_name?: string;
  /** `[keystone_authtoken] tenant_id`. v2 name of project_id. */
  tenant_id?: string;
  /** `[keystone_authtoken] application_credential_id`. Application credential id (auth_type v3applicationcredential). */
  application_credential_id?: string;
  /**
   * `[keystone_authtoken] application_credential_name`. Application credential name, with the user (username and
   * user_domain_name, or user_id).
   */
  application_credential_name?: string;
  /** `[keystone_authtoken] application_credential_secret`. Application credential secret. */
  application_credential_secret?: string;
  /** `[keystone_authtoken] token`. A token the service user authenticates with (auth_type v3token). */
  token?: string;
}

/** Options after coercion, defaults and checks. */
export interface ResolvedOptions {
  wwwAuthenticateUri: string;
  /** The identity endpoint; undefined when it is found in the service catalog (auth_url without identity_uri). */
  identityUri: string | undefined;
  /** Where identityUri came from, for messages: the option(s) that set it. */
  identityUriSource: 'identity_uri' | 'auth_host/auth_port/auth_protocol' | 'auth_uri' | undefined;
  /** How the middleware authenticates itself; undefined: it cannot (PKI tokens without revocation only). */
  credentials: ServiceCredentials | undefined;
  interface: 'public' | 'internal' | 'admin';
  regionName: string | undefined;
  serviceType: string | undefined;
  authVersion: 'v2.0' | 'v3' | undefined;
  delayAuthDecision: boolean;
  httpTimeoutMs: number;
  httpMaxRetries: number;
  adminToken: string | undefined;
  adminUser: string | undefined;
  adminPassword: string | undefined;
  adminTenantName: string;
  cache: TokenStore | undefined;
  certfile: string | undefined;
  keyfile: string | undefined;
  cafile: string | undefined;
  insecure: boolean;
  signingDir: string | undefined;
  memcachedServers: string[];
  tokenCacheTime: number;
  revocationCacheTime: number;
  memcacheSecurityStrategy: 'None' | 'MAC' | 'ENCRYPT';
  memcacheSecretKey: string | undefined;
  /** TLS to memcached (memcache_tls_*); undefined: plain TCP. */
  memcacheTls: MemcacheTlsOptions | undefined;
  includeServiceCatalog: boolean;
  enforceTokenBind: string;
  checkRevocationsForCached: boolean;
  hashAlgorithms: string[];
  serviceTokenRoles: string[];
  serviceTokenRolesRequired: boolean;
  maxTokenLength: number;
  maxInflatedBytes: number;
  maxOnlineTokenLength: number;
  /** validationDeadline in milliseconds. */
  validationDeadlineMs: number;
  cacheMaxEntries: number;
  cacheMaxBytes: number;
  certificateRefetchCooldown: number;
  revocationMaxStaleness: number;
  identityResponseMaxBytes: number;
  revocationListMaxBytes: number;
  memcacheTimeout: number;
  tokenSource: 'x-auth-token' | 'bearer';
  allowInsecureSigningDir: boolean;
  revocationEvents: boolean;
  onError: 'respond' | 'next';
  exposeReason: boolean;
  circuitBreakerThreshold: number;
  circuitBreakerHalfOpenAfter: number;
  /** Notes for the operator found while resolving (legacy names, risky values), each naming its option. */
  warnings: OptionWarning[];
}

/** memcache_tls_* as resolved: file paths (read when the cache connects) and the cipher list. */
export interface MemcacheTlsOptions {
  cafile: string | undefined;
  certfile: string | undefined;
  keyfile: string | undefined;
  ciphers: string | undefined;
}

const ALL = new Map([...OPTION_DECLARATIONS, ...EXTRA_DECLARATIONS].map((d) => [d.name, d]));

/** Levenshtein distance, for "did you mean" (option names here, CLI flags in cli/main.ts). */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The declared option closest to a misspelt name, if any is close. */
export function closestOptionName(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of ALL.keys()) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

function coerce(declaration: OptionDeclaration, raw: unknown): unknown {
  const fail = (expected: string) =>
    new ConfigError('ERR_CONFIG', `option ${declaration.name} must be ${expected}, got ${declaration.secret ? 'a value' : JSON.stringify(raw)}`);
  switch (declaration.type) {
    case 'string':
      if (typeof raw !== 'string') throw fail('a string');
      return raw;
    case 'int': {
      const value = typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
      if (typeof value !== 'number' || !Number.isInteger(value)) throw fail('an integer');
      return value;
    }
    case 'float': {
      const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof value !== 'number' || Number.isNaN(value)) throw fail('a number');
      return value;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      // oslo.config accepts these spellings
      const text = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
      if (['true', '1', 'on', 'yes'].includes(text)) return true;
      if (['false', '0', 'off', 'no'].includes(text)) return false;
      throw fail('a boolean (true/false)');
    }
    case 'object':
      return raw;
    case 'function':
      if (typeof raw !== 'function') throw fail('a function');
      return raw;
    case 'list': {
      if (Array.isArray(raw) && raw.every((item) => typeof item === 'string')) return raw.map((item) => item.trim()).filter(Boolean);
      if (typeof raw === 'string') return raw.split(',').map((item) => item.trim()).filter(Boolean);
      throw fail('a list of strings (or a comma-separated string)');
    }
  }
}

/**
 * Checks and coerces options: unknown names (with the closest valid name), wrong types and contradictions are
 * ConfigError(ERR_CONFIG) naming the option. Values never appear in messages for secret options.
 */
export function resolveOptions(input: AuthTokenOptions): ResolvedOptions {
  if (input === null || typeof input !== 'object') throw new ConfigError('ERR_CONFIG', 'options must be an object of keystone_authtoken settings');
  const values = new Map<string, unknown>();
  for (const [name, raw] of Object.entries(input)) {
    const declaration = ALL.get(name);
    if (!declaration) {
      const suggestion = closestOptionName(name);
      throw new ConfigError('ERR_CONFIG', `unknown option ${name}${suggestion ? `; did you mean ${suggestion}?` : ''}`);
    }
    if (raw === undefined || raw === null) continue;
    if (declaration.type === 'object') {
      values.set(name, raw);
      continue;
    }
    values.set(name, coerce(declaration, raw));
  }
  const get = <T>(name: string): T => (values.has(name) ? values.get(name) : ALL.get(name)!.default) as T;
  const warnings: OptionWarning[] = [];

  const legacy = OPTION_DECLARATIONS.filter((d) => d.legacy && values.has(d.name)).map((d) => d.name);
  let identityUri = get<string | undefined>('identity_uri');
  let identityUriSource: ResolvedOptions['identityUriSource'] = identityUri ? 'identity_uri' : undefined;
  if (identityUri && legacy.length > 0) warnings.push(new OptionWarning(legacy.join(', '), `identity_uri is set, so the legacy option(s) ${legacy.join(', ')} are ignored; remove them`));
  if (!identityUri && legacy.length > 0) {
    warnings.push(new OptionWarning(legacy.join(', '), `legacy option(s) ${legacy.join(', ')} in use; set identity_uri instead`));
    const host = get<string>('auth_host');
    identityUriSource = 'auth_host/auth_port/auth_protocol';
    identityUri = `${get<string>('auth_protocol')}://${host.includes(':') ? `[${host}]` : host}:${get<number>('auth_port')}${get<string>('auth_admin_prefix').replace(/\/$/, '')}`;
  }
  const text = (name: string) => {
    const value = get<unknown>(name);
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const credentials = resolveCredentials(text);
  const viaCatalog = credentials?.kind === 'keystoneauth';
  if (!identityUri && !viaCatalog && get<string | undefined>('auth_uri')) {
    identityUri = get<string>('auth_uri');
    identityUriSource = 'auth_uri';
  }
  if (!identityUri && !viaCatalog) {
    throw new ConfigError('ERR_CONFIG', 'option identity_uri is required (the identity endpoint, e.g. http://127.0.0.1:5000/), or auth_type with auth_url (keystoneauth options) to find it in the service catalog');
  }
  if (identityUri) {
    try {
      const url = new URL(identityUri);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    } catch {
      throw new ConfigError('ERR_CONFIG', `option identity_uri must be an http(s) URL, got ${JSON.stringify(identityUri)}`);
    }
  }
  const ignoredAll = get<string[] | undefined>('ignoredOptions') ?? [];
  const misplaced = ignoredAll.filter((name) => name.startsWith('['));
  const ignored = ignoredAll.filter((name) => !name.startsWith('['));
  if (misplaced.length > 0) warnings.push(new OptionWarning(misplaced.join(', '), `options ${misplaced.join(', ')} are in the auth_section, which is read for the auth plugin's options only (auth_type and its credentials, as keystonemiddleware does): they are ignored; set them in [keystone_authtoken]`));
  if (ignored.length > 0) warnings.push(new OptionWarning(ignored.join(', '), `options ${ignored.join(', ')} in the config section are not used by this library (they tune Python's memcache pool, keystoneauth's session, or logging); remove them or keep them for Python services`));
  if (credentials?.kind === 'keystoneauth' && (get('admin_user') || get('admin_token'))) {
    warnings.push(new OptionWarning('admin_user', 'auth_type is set, so admin_user/admin_password/admin_token are ignored; remove them'));
  }

  // Choices compare without case, as oslo.config's and keystonemiddleware's readers do (ENCRYPT, encrypt, Encrypt).
  const choice = (name: string) => {
    const value = get<string | undefined>(name);
    const declaration = ALL.get(name)!;
    if (value === undefined || !declaration.choices) return value;
    const found = declaration.choices.find((c) => c.toLowerCase() === value.trim().toLowerCase());
    if (!found) throw new ConfigError('ERR_CONFIG', `option ${name} must be one of ${declaration.choices.join(', ')}, got ${JSON.stringify(value)}`);
    return found;
  };
  choice('auth_protocol');
  const version = choice('auth_version');
  const authVersion = version === undefined ? undefined : version.replace(/^v/, '').startsWith('3') ? 'v3' : 'v2.0';
  const strategy = (choice('memcache_security_strategy') ?? 'None') as ResolvedOptions['memcacheSecurityStrategy'];
  const secretKey = get<string | undefined>('memcache_secret_key');
  if (strategy !== 'None' && !secretKey) {
    throw new ConfigError('ERR_CONFIG', `option memcache_security_strategy is ${strategy} but memcache_secret_key is not set`);
  }
  const adminUser = get<string | undefined>('admin_user');
  const adminPassword = get<string | undefined>('admin_password');
  if (adminUser && !adminPassword) throw new ConfigError('ERR_CONFIG', 'option admin_user is set but admin_password is not');
  if (adminPassword && !adminUser) throw new ConfigError('ERR_CONFIG', 'option admin_password is set but admin_user is not');
  const adminToken = get<string | undefined>('admin_token');
  if (adminToken && adminUser) warnings.push(new OptionWarning('admin_token', 'both admin_token and admin_user are set; admin_token is used (it is meant for bootstrap only)'));
  const certfile = get<string | undefined>('certfile');
  const keyfile = get<string | undefined>('keyfile');
  if (keyfile && !certfile) throw new ConfigError('ERR_CONFIG', 'option keyfile is set but certfile is not');

  const hashAlgorithms = get<string[]>('hash_algorithms').map((name) => name.toLowerCase());
  if (hashAlgorithms.length === 0) throw new ConfigError('ERR_CONFIG', 'option hash_algorithms must name at least one algorithm (default md5)');
  for (const algorithm of hashAlgorithms) {
    if (!isHashAlgorithm(algorithm)) throw new ConfigError('ERR_CONFIG', `option hash_algorithms names ${algorithm}, which this Node.js does not offer`);
  }
  let revocationCacheTime = get<number>('revocation_cache_time');
  if (revocationCacheTime < 1) {
    warnings.push(new OptionWarning('revocation_cache_time', `revocation_cache_time = ${revocationCacheTime} would fetch the revocation list on every request; using 1 second (refreshes are single-flight)`));
    revocationCacheTime = 1;
  }
  const tokenCacheTime = get<number>('token_cache_time');
  const timeout = get<number | undefined>('http_connect_timeout');
  if (timeout !== undefined && timeout <= 0) throw new ConfigError('ERR_CONFIG', 'option http_connect_timeout must be a positive number of seconds');
  const retries = get<number>('http_request_max_retries');
  if (retries < 0) throw new ConfigError('ERR_CONFIG', 'option http_request_max_retries must be 0 or more');
  for (const name of ['maxTokenLength', 'maxInflatedBytes', 'cacheMaxEntries', 'cacheMaxBytes', 'identityResponseMaxBytes', 'revocationListMaxBytes', 'memcacheTimeout', 'circuitBreakerThreshold', 'circuitBreakerHalfOpenAfter', 'maxOnlineTokenLength', 'validationDeadline']) {
    if (get<number>(name) <= 0) throw new ConfigError('ERR_CONFIG', `option ${name} must be positive`);
  }
  const logger = values.get('logger');
  if (logger !== undefined) {
    const missing = ['debug', 'info', 'warn', 'error'].filter((level) => typeof (logger as Record<string, unknown>)?.[level] !== 'function');
    if (typeof logger !== 'object' || logger === null || missing.length > 0) {
      throw new ConfigError('ERR_CONFIG', `option logger must be an object with debug, info, warn and error methods (pino, console, a winston child...); got ${typeof logger === 'function' ? `a function (${logger.name || 'anonymous'}): pass console, not console.log` : `an object without ${missing.join(', ')}`}`);
    }
  }
  compileUnless(values.get('unless')); // checked here, compiled by each adapter
  const cache = values.get('cache') as TokenStore | undefined;
  if (cache !== undefined && (typeof cache !== 'object' || typeof cache.get !== 'function' || typeof cache.set !== 'function')) {
    throw new ConfigError('ERR_CONFIG', 'option cache must be an object with async get(key) and set(key, value, ttlSeconds)');
  }

  let wwwAuthenticateUri = get<string | undefined>('www_authenticate_uri') ?? get<string | undefined>('auth_uri');
  if (!wwwAuthenticateUri) {
    warnings.push(new OptionWarning('www_authenticate_uri', 'www_authenticate_uri (or auth_uri) is not set: 401 answers name identity_uri, which clients usually cannot reach; set it to the public identity endpoint'));
    wwwAuthenticateUri = identityUri ?? (credentials?.kind === 'keystoneauth' ? credentials.authUrl : '');
  }

  return {
    wwwAuthenticateUri,
    identityUri: identityUri?.replace(/\/+$/, ''),
    identityUriSource,
    credentials,
    interface: choice('interface') as ResolvedOptions['interface'],
    regionName: text('region_name'),
    serviceType: text('service_type'),
    authVersion,
    delayAuthDecision: get('delay_auth_decision'),
    httpTimeoutMs: (timeout ?? 10) * 1000,
    httpMaxRetries: retries,
    adminToken,
    adminUser,
    adminPassword,
    adminTenantName: get('admin_tenant_name'),
    cache,
    certfile,
    keyfile,
    cafile: get('cafile'),
    insecure: get('insecure'),
    signingDir: get('signing_dir'),
    memcachedServers: get<string[] | undefined>('memcached_servers') ?? [],
    tokenCacheTime,
    revocationCacheTime,
    memcacheSecurityStrategy: strategy,
    memcacheSecretKey: secretKey,
    memcacheTls: get<boolean>('memcache_tls_enabled') ? {
      cafile: get<string | undefined>('memcache_tls_cafile'),
      certfile: get<string | undefined>('memcache_tls_certfile'),
      keyfile: get<string | undefined>('memcache_tls_keyfile'),
      ciphers: get<string | undefined>('memcache_tls_allowed_ciphers'),
    } : undefined,
    includeServiceCatalog: get('include_service_catalog'),
    enforceTokenBind: get('enforce_token_bind'),
    checkRevocationsForCached: get('check_revocations_for_cached'),
    hashAlgorithms,
    serviceTokenRoles: get('service_token_roles'),
    serviceTokenRolesRequired: get('service_token_roles_required'),
    maxTokenLength: get('maxTokenLength'),
    maxInflatedBytes: get('maxInflatedBytes'),
    maxOnlineTokenLength: get('maxOnlineTokenLength'),
    validationDeadlineMs: Math.round(get<number>('validationDeadline') * 1000),
    cacheMaxEntries: get('cacheMaxEntries'),
    cacheMaxBytes: get('cacheMaxBytes'),
    certificateRefetchCooldown: get('certificateRefetchCooldown'),
    revocationMaxStaleness: get('revocationMaxStaleness'),
    identityResponseMaxBytes: get('identityResponseMaxBytes'),
    revocationListMaxBytes: get('revocationListMaxBytes'),
    memcacheTimeout: get('memcacheTimeout'),
    tokenSource: choice('tokenSource') as ResolvedOptions['tokenSource'],
    allowInsecureSigningDir: get('allowInsecureSigningDir'),
    revocationEvents: get('revocationEvents'),
    onError: choice('onError') as ResolvedOptions['onError'],
    exposeReason: get('exposeReason'),
    circuitBreakerThreshold: get('circuitBreakerThreshold'),
    circuitBreakerHalfOpenAfter: get('circuitBreakerHalfOpenAfter'),
    warnings,
  };
}
