import { AsnConvert } from '@peculiar/asn1-schema';
import { Name } from '@peculiar/asn1-x509';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeystoneAuthError } from '../errors.js';
import { signatureScheme } from '../cms/algorithms.js';
import { parseSignedData } from '../cms/signed-data.js';
import { SigningMaterial } from '../cms/verify.js';
import { readIdentity } from '../token/access-info.js';
import { classifyToken, decodePkiz, tokenToDer, PKIZ_PREFIX } from '../token/format.js';
import { hashToken, tokenLogId } from '../token/hash.js';
import { describeOnlineToken } from './online-token.js';
import { terminalSafe } from './terminal-text.js';

const NAME_OIDS: Record<string, string> = { '2.5.4.3': 'CN', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '1.2.840.113549.1.9.1': 'emailAddress' };

function readableName(der: Uint8Array): string {
  try {
    return AsnConvert.parse(der, Name)
      .map((rdn) => rdn.map((atv) => `${NAME_OIDS[atv.type] ?? atv.type}=${atv.value.toString()}`).join('+'))
      .join(', ');
  } catch {
    return Buffer.from(der).toString('hex');
  }
}

export interface InspectInput {
  token: string;
  signingDir?: string;
  signingCert?: string;
  ca?: string;
  now?: Date;
}

/** What a token is, offline: format, hashes, CMS details, body summary; verified when material is given. */
export function inspectToken(input: InspectInput): Record<string, unknown> {
  const token = input.token.trim();
  const format = classifyToken(token);
  if (format === 'online') {
    // An online token's id is the token itself: never printed, nor labelled as if it were a hash of it.
    return {
      format,
      length: token.length,
      logId: tokenLogId(token),
      ...describeOnlineToken(token, input.now ?? new Date()),
      validation: 'online only: the identity server validates it (GET /v3/auth/tokens); logId is how this library names it in logs',
    };
  }
  const report: Record<string, unknown> = {
    format,
    length: token.length,
    md5: hashToken(token, 'md5'),
    sha256: hashToken(token, 'sha256'),
  };
  try {
    if (format === 'pkiz') {
      // The anatomy keystoneclient's pkiz_sign gives a token: urlsafe base64 of zlib.compress(<PEM text of the CMS>).
      const pkiz = decodePkiz(token);
      report.pkiz = {
        layers: `${PKIZ_PREFIX} + urlsafe base64 (${token.length - PKIZ_PREFIX.length} chars) -> zlib (${pkiz.compressedBytes} bytes, header level class ${pkiz.zlibLevelClass}: ${['fastest', 'fast', 'default (keystoneclient: 6)', 'best'][pkiz.zlibLevelClass] ?? '?'}) -> PEM text (${pkiz.pem.length} chars, "-----BEGIN CMS-----") -> DER (${pkiz.der.length} bytes)`,
        pemFirstLine: pkiz.pem.slice(0, pkiz.pem.indexOf('\n')),
      };
    }
    const der = tokenToDer(token);
    report.derBytes = der.length;
    const signed = parseSignedData(der);
    report.cms = signed.signerInfos.map((signerInfo) => {
      const sid = signerInfo.sid;
      let scheme: string;
      try {
        const s = signatureScheme(signerInfo.digestAlgorithm, signerInfo.signatureAlgorithm);
        scheme = `${s.digest} / ${s.name}`;
      } catch (error) {
        scheme = `${signerInfo.digestAlgorithm.oid} / ${signerInfo.signatureAlgorithm.oid} (${(error as KeystoneAuthError).code})`;
      }
      return {
        digestAndSignature: scheme,
        signer: 'serial' in sid
          ? { issuer: readableName(sid.issuer), serial: Buffer.from(sid.serial).toString('hex').replace(/^0+(?=.)/, '').toUpperCase() }
          : { subjectKeyIdentifier: Buffer.from(sid.subjectKeyId).toString('hex') },
        signedAttributes: signerInfo.signedAttributes ? `present (${signerInfo.signedAttributes.length})` : 'absent (-noattr)',
      };
    });
    report.contentBytes = signed.content.length;
    try {
      const identity = readIdentity(JSON.parse(Buffer.from(signed.content).toString('utf8')));
      report.body = {
        version: identity.version,
        user: `${identity.user.name ?? '?'} (${identity.user.id})${identity.user.domain ? ` in domain ${identity.user.domain.name ?? identity.user.domain.id}` : ''}`,
        project: identity.project ? `${identity.project.name ?? '?'} (${identity.project.id})${identity.project.domain ? ` in domain ${identity.project.domain.name ?? identity.project.domain.id}` : ''}` : null,
        domain: identity.domain ? `${identity.domain.name ?? '?'} (${identity.domain.id})` : null,
        roles: identity.roles,
        issuedAt: identity.issuedAt?.toISOString() ?? null,
        expiresAt: identity.expiresAt.toISOString(),
        expired: identity.expiresAt.getTime() <= (input.now ?? new Date()).getTime(),
        catalogServices: identity.catalog?.length ?? 0,
      };
    } catch (error) {
      report.body = { error: (error as Error).message };
    }
  } catch (error) {
    report.error = { code: (error as KeystoneAuthError).code, message: (error as Error).message };
    return report;
  }
  const signingCert = input.signingCert ?? (input.signingDir ? join(input.signingDir, 'signing_cert.pem') : undefined);
  const ca = input.ca ?? (input.signingDir ? join(input.signingDir, 'cacert.pem') : undefined);
  if (signingCert && ca) {
    try {
      const material = new SigningMaterial({ signingCert: readFileSync(signingCert, 'utf8'), caCerts: readFileSync(ca, 'utf8') });
      const verified = material.verify(token, { now: input.now });
      report.verification = { result: 'valid signature', signer: verified.signer, digest: verified.digestAlgorithm };
    } catch (error) {
      const e = error as KeystoneAuthError;
      report.verification = { result: 'refused', code: e.code ?? (e as NodeJS.ErrnoException).code, reason: e.message };
    }
  }
  return report;
}

/** Human output; every key and value is made terminal-safe (token bodies are written by whoever minted them). */
export function renderInspection(report: Record<string, unknown>): string {
  const lines: string[] = [];
  const walk = (value: unknown, indent: string, key?: string) => {
    key = key === undefined ? undefined : terminalSafe(key);
    const label = key === undefined ? '' : `${key}: `;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      if (key !== undefined) lines.push(`${indent}${key}:`);
      for (const [k, v] of Object.entries(value)) walk(v, key === undefined ? indent : `${indent}  `, k);
    } else if (Array.isArray(value) && value.some((v) => v !== null && typeof v === 'object')) {
      lines.push(`${indent}${key}:`);
      value.forEach((v, i) => walk(v, `${indent}  `, `#${i + 1}`));
    } else {
      const text = Array.isArray(value) ? value.map((v) => terminalSafe(String(v))).join(', ') : terminalSafe(String(value));
      lines.push(`${indent}${label}${text}`);
    }
  };
  walk(report, '');
  return lines.join('\n');
}
