import { Worker } from 'node:worker_threads';
import { IdentityServerError } from '../errors.js';
import { auditKey, buildRevokedTables, RevocationEntries, type RevocationTables } from './revoked-set.js';

/**
 * A revocation list of 100,000 entries is ~11 MB of JSON wrapping ~11 MB of PEM. Past this size its text work
 * (decoding, JSON, base64, building the id tables) runs on a worker thread, so that requests are not stalled
 * while it happens; the main thread only walks the DER and has the signature checked on libuv's thread pool.
 * Bytes go to the worker and come back by transfer, never by copy, and the ids come back as a few byte
 * tables rather than 100,000 strings (see revoked-set.ts).
 */
export const WORKER_THRESHOLD_BYTES = 256 * 1024;

/**
 * Self-contained worker code (no imports from this package, so it runs the same from the ESM and CommonJS
 * builds; buildRevokedTables and listIds are self-contained for this reason). Two jobs: 'json' and 'pem' turn the
 * {"signed": PEM} answer, or the PEM of revoked.pem, into the DER to verify; 'ids' turns the
 * verified content {"revoked": [{"id": …}]} into id tables.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
try {
  // Linux: this thread alone at the lowest CPU priority, so that on a busy machine request handling comes first.
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  if (tid > 0) require('node:os').setPriority(tid, 19);
} catch {}
${buildRevokedTables.toString()}
${auditKey.toString()}
${listIds.toString()}
${revocationTables.toString()}
function standalone(buffer) { const copy = new Uint8Array(buffer.length); copy.set(buffer); return copy; }
try {
  const text = new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(workerData.buffer, workerData.offset, workerData.length));
  if (workerData.job === 'json' || workerData.job === 'pem') {
    let pem = text;
    if (workerData.job === 'json') {
      const body = JSON.parse(text);
      if (!body || typeof body.signed !== 'string') throw new Error('the answer has no "signed" revocation list');
      pem = body.signed;
    }
    const header = /^\\s*-----BEGIN (CMS|PKCS7)-----/.exec(pem);
    const footer = header ? pem.lastIndexOf('-----END ' + header[1] + '-----') : -1;
    if (!header || footer < 0) throw new Error('the revocation list is not PEM CMS');
    const body64 = pem.slice(header[0].length, footer);
    if (/[^A-Za-z0-9+/=\\s]/.test(body64)) throw new Error('the revocation list is not valid base64');
    const der = standalone(Buffer.from(body64, 'base64'));
    parentPort.postMessage({ der }, [der.buffer]);
  } else {
    const built = revocationTables(listIds(text));
    parentPort.postMessage(built, [...built.ids.tables, ...built.auditIds.tables].map((table) => table.bytes.buffer));
  }
} catch (error) {
  parentPort.postMessage({ error: String((error && error.message) || error) });
}
`;

/** Runs a job on a new worker; the bytes' ArrayBuffer is transferred to it (copied first if shared with others). */
function onWorker<T>(job: 'json' | 'pem' | 'ids', bytes: Uint8Array): Promise<T> {
  const owned = bytes.buffer instanceof ArrayBuffer && bytes.buffer.byteLength >= 1024 * 1024 ? bytes : new Uint8Array(bytes);
  return new Promise((resolve, reject) => {
    const workerData = { job, buffer: owned.buffer, offset: owned.byteOffset, length: owned.byteLength };
    // execArgv: [] keeps loaders the process was started with (tsx, say) out of a worker that needs none.
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData, transferList: [owned.buffer as ArrayBuffer] });
    worker.once('message', (message: T & { error?: string }) => {
      void worker.terminate();
      if (message.error !== undefined) reject(new Error(message.error));
      else resolve(message);
    });
    worker.once('error', reject);
  });
}

function fail(cause: unknown): never {
  throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `the revocation list cannot be read: ${(cause as Error).message}`, { cause });
}

/**
 * The revocation list answer ({"signed": PEM}, or the PEM of revoked.pem): a large one as the DER to verify,
 * decoded on a worker thread; a small one as its PEM text. Takes ownership of a large `body`: it is handed to
 * the worker thread and is unusable afterwards.
 */
export async function decodeRevocationList(body: Uint8Array, kind: 'json' | 'pem'): Promise<Uint8Array | string> {
  try {
    if (body.length > WORKER_THRESHOLD_BYTES) return (await onWorker<{ der: Uint8Array }>(kind, body)).der;
    const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
    if (kind === 'pem') return text;
    const parsed = JSON.parse(text) as { signed?: unknown };
    if (typeof parsed?.signed !== 'string') throw new Error('the answer has no "signed" revocation list');
    return parsed.signed; // small: the PEM text is verified directly
  } catch (cause) {
    return fail(cause);
  }
}

/**
 * The entries of a revocation list's JSON ({"revoked": [{"id": …, "audit_id": …}]}): lower-cased ids, audit id
 * keys (see auditKey), and the number of entries without an audit id. Self-contained: its source also runs on the
 * worker thread.
 */
function listIds(text: string): { ids: string[]; auditKeys: string[]; withoutAuditId: number } {
  const list = JSON.parse(text) as { revoked?: unknown };
  if (!list || !Array.isArray(list.revoked)) throw new Error('the revocation list has no "revoked" array');
  const ids: string[] = [];
  const auditKeys: string[] = [];
  let withoutAuditId = 0;
  for (const entry of list.revoked) {
    const id = (entry as { id?: unknown } | null)?.id;
    const audit = (entry as { audit_id?: unknown } | null)?.audit_id;
    if (typeof id === 'string') ids.push(id.toLowerCase());
    if (typeof audit === 'string' && audit !== '') auditKeys.push(auditKey(audit));
    else withoutAuditId++;
  }
  return { ids, auditKeys, withoutAuditId };
}

/** Self-contained (runs on the worker thread too). */
function revocationTables(listed: { ids: string[]; auditKeys: string[]; withoutAuditId: number }): RevocationTables {
  return { ids: buildRevokedTables(listed.ids), auditIds: buildRevokedTables(listed.auditKeys), withoutAuditId: listed.withoutAuditId };
}

/**
 * The entries of a verified revocation list's content. Takes ownership of the content's ArrayBuffer when it is
 * large (it is read on a worker thread and unusable afterwards).
 */
export async function revokedIds(content: Uint8Array): Promise<RevocationEntries> {
  try {
    if (content.length <= WORKER_THRESHOLD_BYTES) return new RevocationEntries(revocationTables(listIds(new TextDecoder('utf-8', { fatal: true }).decode(content))));
    return new RevocationEntries(await onWorker<RevocationTables>('ids', content));
  } catch (cause) {
    return fail(cause);
  }
}
