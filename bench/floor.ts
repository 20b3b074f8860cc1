// The least any PKI validator with a revocation list does per uncached token, as a connect middleware (the
// 'floor' app of bench/http-app.ts, and bench/miss-driver.ts): decode the token (base64 with '-' for '/'), find
// the signed content and the signature in its DER (a walk of the CMS structure: a validator cannot know where
// they lie in a token it has not read), one crypto.verify of the content, JSON.parse of the body, its expiry, the
// MD5 of the token, and the lookups of that MD5 and of the body's audit ids in a revocation list of 10,000
// entries. No other check, no headers, nothing kept from one request to the next but the key and the list.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { parseSignedData } from '../src/cms/signed-data.js';

export function floorMiddleware(publicKeyPem: string, listEntries = 10_000): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  const key = createPublicKey(publicKeyPem);
  // Lookups cost the same whatever the ids: a list of random ones (as many as the bench's identity server revokes).
  const revoked = new Set(Array.from({ length: listEntries }, () => randomBytes(16).toString('hex')));
  const revokedAuditIds = new Set(Array.from({ length: listEntries }, () => randomBytes(16).toString('base64url')));
  return (req, _res, next) => {
    const token = String(req.headers['x-auth-token']);
    const der = Buffer.from(token.replace(/-/g, '/'), 'base64');
    const parsed = parseSignedData(der);
    const content = Buffer.from(parsed.content.buffer, parsed.content.byteOffset, parsed.content.byteLength);
    if (!verify('sha256', content, key, parsed.signerInfos[0]!.signature)) throw new Error('floor: signature');
    const body = JSON.parse(content.toString('utf8')) as { token?: { expires_at?: string; audit_ids?: string[] }; access?: { token?: { expires?: string; audit_ids?: string[] } } };
    if (!(Date.parse(body.token?.expires_at ?? body.access?.token?.expires ?? '') > Date.now())) throw new Error('floor: expired');
    if (revoked.has(createHash('md5').update(token).digest('hex'))) throw new Error('floor: revoked');
    for (const auditId of body.token?.audit_ids ?? body.access?.token?.audit_ids ?? []) if (revokedAuditIds.has(auditId)) throw new Error('floor: revoked');
    next();
  };
}
