/**
 * What can be read from an online token without Keystone's keys: which kind it is (Fernet, JWS, UUID) and the
 * fields its format leaves in clear. Nothing here is verified: anyone can write a token of these shapes.
 */

const UNVERIFIED = 'UNVERIFIED: read without keys; anyone can write these fields. Only the identity server can say whether the token is valid (GET /v3/auth/tokens; keystone-authtoken doctor --token).';

/** Base64url without padding (as Keystone writes Fernet tokens and JWS parts), or undefined when it is not that. */
function base64url(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  return Buffer.from(text, 'base64url');
}

function date(seconds: unknown): string | undefined {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return undefined;
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/**
 * Fernet (keystone/token/token_formatters.py): urlsafe base64 of version byte 0x80, 8-byte big-endian creation
 * time in seconds, 16-byte IV, AES-128-CBC ciphertext (whole 16-byte blocks), 32-byte HMAC-SHA256, with the
 * `=` padding stripped.
 */
function fernet(token: string): Record<string, unknown> | undefined {
  const bytes = base64url(token);
  if (!bytes || bytes.length < 1 + 8 + 16 + 16 + 32 || bytes[0] !== 0x80 || (bytes.length - 57) % 16 !== 0) return undefined;
  const seconds = bytes.readBigUInt64BE(1);
  const created = seconds <= 8_640_000_000_000n ? date(Number(seconds)) : undefined; // the last second a Date can hold
  return {
    kind: 'fernet',
    unverified: UNVERIFIED,
    fernetVersion: '0x80',
    createdAt: created ?? `${seconds} (not a date)`,
    ciphertextBytes: bytes.length - 57,
    note: 'the user, scope, methods, audit ids and expiry are encrypted with the identity server\'s Fernet keys: only it can read them',
  };
}

const SCOPE_CLAIMS: Record<string, string> = {
  openstack_project_id: 'project', openstack_domain_id: 'domain', openstack_system: 'system', openstack_trust_id: 'trust',
  openstack_app_cred_id: 'application credential', openstack_access_token_id: 'OAuth access token',
};

/** JWS (keystone/token/providers/jws/core.py): compact serialisation, ES256, claims sub, iat, exp, openstack_*. */
function jws(token: string, now: Date): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [header, payload, signature] = parts.map(base64url);
  if (!header || !payload || !signature) return undefined;
  let head: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    head = JSON.parse(header.toString('utf8'));
    claims = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!head || typeof head !== 'object' || !claims || typeof claims !== 'object') return undefined;
  const scope = Object.entries(SCOPE_CLAIMS)
    .filter(([claim]) => claims[claim] !== undefined && claims[claim] !== null)
    .map(([claim, name]) => `${name} ${typeof claims[claim] === 'string' ? claims[claim] : JSON.stringify(claims[claim])}`);
  const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
  const known = new Set(['sub', 'iat', 'exp', 'openstack_methods', 'openstack_audit_ids', ...Object.keys(SCOPE_CLAIMS)]);
  const other = Object.fromEntries(Object.entries(claims).filter(([name, value]) => !known.has(name) && value !== null));
  return {
    kind: 'jws',
    unverified: UNVERIFIED,
    header: head,
    payload: {
      subject: claims.sub ?? null,
      scope: scope.length > 0 ? scope.join(', ') : 'unscoped',
      methods: Array.isArray(claims.openstack_methods) ? claims.openstack_methods : null,
      auditIds: Array.isArray(claims.openstack_audit_ids) ? claims.openstack_audit_ids : null,
      issuedAt: date(claims.iat) ?? null,
      expiresAt: date(exp) ?? null,
      expired: exp === undefined ? null : exp * 1000 <= now.getTime(),
      ...(Object.keys(other).length > 0 ? { otherClaims: other } : {}),
    },
    signatureBytes: signature.length,
    note: 'signed with one of the identity server\'s JWS keys (keystone-manage create_jws_keypair); the names of the user and project, and the roles, are not in the token',
  };
}

/** The kind of an online token and what it shows without keys. */
export function describeOnlineToken(token: string, now: Date): Record<string, unknown> {
  if (/^[0-9a-f]{32}$/i.test(token)) {
    return { kind: 'uuid', note: 'a random identifier with nothing inside: only the identity server knows what it stands for (Keystone issues UUID tokens no more since Pike; the test kit still mints them)' };
  }
  return fernet(token) ?? jws(token, now) ?? { kind: 'unknown', note: 'neither a Fernet token (base64url of 0x80, time, IV, ciphertext, HMAC), a JWS (header.payload.signature) nor a UUID: the identity server will likely refuse it' };
}
