import { Worker } from 'node:worker_threads';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { IdentityServerError } from '../errors.js';

/**
 * A revocation list of 100,000 entries is ~11 MB of JSON wrapping ~11 MB of PEM. Past this size its text work
 * (decoding, JSON, base64) runs on a worker thread, so that requests are not stalled while it happens; the
 * main thread only walks the DER, has the signature checked on libuv's thread pool, and fills the Set in chunks.
 */
export const WORKER_THRESHOLD_BYTES = 256 * 1024;
const SET_CHUNK = 5_000;

/**
 * Self-contained worker code (no imports from this package, so it runs the same from the ESM and CommonJS
 * builds). Two jobs: 'response' turns the {"signed": PEM} answer into the DER and the PEM bytes (to store as
 * revoked.pem); 'ids' turns the verified content {"revoked": [{"id": …}]} into the ids joined by newlines.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
function standalone(buffer) { const copy = new Uint8Array(buffer.length); copy.set(buffer); return copy; }
try {
  const text = new TextDecoder('utf-8', { fatal: true }).decode(workerData.bytes);
  if (workerData.job === 'response') {
    const body = JSON.parse(text);
    if (!body || typeof body.signed !== 'string') throw new Error('the answer has no "signed" revocation list');
    const pem = body.signed;
    const header = /^\\s*-----BEGIN (CMS|PKCS7)-----/.exec(pem);
    const footer = header ? pem.lastIndexOf('-----END ' + header[1] + '-----') : -1;
    if (!header || footer < 0) throw new Error('the revocation list is not PEM CMS');
    const body64 = pem.slice(header[0].length, footer);
    if (/[^A-Za-z0-9+/=\\s]/.test(body64)) throw new Error('the revocation list is not valid base64');
    const der = standalone(Buffer.from(body64, 'base64'));
    const pemBytes = standalone(Buffer.from(pem, 'utf8'));
    parentPort.postMessage({ der, pem: pemBytes }, [der.buffer, pemBytes.buffer]);
  } else {
    const list = JSON.parse(text);
    if (!list || !Array.isArray(list.revoked)) throw new Error('the revocation list has no "revoked" array');
    const ids = [];
    for (const entry of list.revoked) if (entry && typeof entry.id === 'string' && !entry.id.includes('\\n')) ids.push(entry.id.toLowerCase());
    parentPort.postMessage({ ids: ids.join('\\n') });
  }
} catch (error) {
  parentPort.postMessage({ error: String((error && error.message) || error) });
}
`;

function onWorker<T>(job: 'response' | 'ids', bytes: Uint8Array): Promise<T> {
  return new Promise((resolve, reject) => {
    const copy = new Uint8Array(bytes); // its own ArrayBuffer, transferred to the worker without a second copy
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { job, bytes: copy }, transferList: [copy.buffer] });
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

/** The revocation list answer ({"signed": PEM}) as the DER to verify and the PEM bytes to store. */
export async function decodeRevocationResponse(body: Buffer): Promise<{ der: Uint8Array; pem: Uint8Array | string }> {
  try {
    if (body.length > WORKER_THRESHOLD_BYTES) return await onWorker<{ der: Uint8Array; pem: Uint8Array }>('response', body);
    const parsed = JSON.parse(body.toString('utf8')) as { signed?: unknown };
    if (typeof parsed?.signed !== 'string') throw new Error('the answer has no "signed" revocation list');
    return { der: new Uint8Array(0), pem: parsed.signed }; // small: the PEM text is verified directly
  } catch (cause) {
    return fail(cause);
  }
}

function idsInline(content: Uint8Array): string[] {
  const list = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(content)) as { revoked?: unknown };
  if (!list || !Array.isArray(list.revoked)) throw new Error('the revocation list has no "revoked" array');
  const ids: string[] = [];
  for (const entry of list.revoked) {
    const id = (entry as { id?: unknown })?.id;
    if (typeof id === 'string') ids.push(id.toLowerCase());
  }
  return ids;
}

/**
 * The revoked token ids of a verified revocation list's content, lower-case, as a Set. Large lists are parsed
 * on a worker thread and the Set is filled in chunks, yielding to the event loop between them.
 */
export async function revokedIds(content: Uint8Array): Promise<Set<string>> {
  try {
    if (content.length <= WORKER_THRESHOLD_BYTES) return new Set(idsInline(content));
    const { ids: joined } = await onWorker<{ ids: string }>('ids', content);
    const set = new Set<string>();
    let start = 0;
    while (start < joined.length) {
      for (let n = 0; n < SET_CHUNK && start < joined.length; n++) {
        let end = joined.indexOf('\n', start);
        if (end === -1) end = joined.length;
        set.add(joined.slice(start, end));
        start = end + 1;
      }
      await yieldToEventLoop();
    }
    return set;
  } catch (cause) {
    return fail(cause);
  }
}
