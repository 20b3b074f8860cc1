import { Worker } from 'node:worker_threads';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { IdentityServerError } from '../errors.js';

/** Lists larger than this are parsed on a worker thread, so that requests are not stalled meanwhile. */
export const WORKER_THRESHOLD_BYTES = 256 * 1024;
const SET_CHUNK = 20_000;

/**
 * Self-contained worker code (no imports from this package, so it runs the same from the ESM and CommonJS
 * builds): UTF-8 decode, JSON.parse, and the ids of {"revoked": [{"id": …}]}, joined by newlines.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
try {
  const list = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(workerData));
  if (!list || !Array.isArray(list.revoked)) throw new Error('the revocation list has no "revoked" array');
  const ids = [];
  for (const entry of list.revoked) if (entry && typeof entry.id === 'string' && !entry.id.includes('\\n')) ids.push(entry.id.toLowerCase());
  parentPort.postMessage({ ids: ids.join('\\n') });
} catch (error) {
  parentPort.postMessage({ error: String((error && error.message) || error) });
}
`;

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

function idsOnWorker(content: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const copy = new Uint8Array(content); // its own ArrayBuffer, transferred to the worker without a second copy
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: copy, transferList: [copy.buffer] });
    worker.once('message', (message: { ids?: string; error?: string }) => {
      void worker.terminate();
      if (message.error !== undefined) reject(new Error(message.error));
      else resolve(message.ids ?? '');
    });
    worker.once('error', reject);
  });
}

/**
 * The revoked token ids of a verified revocation list's content, lower-case, as a Set. Large lists are parsed
 * on a worker thread and the Set is filled in chunks, yielding to the event loop between them.
 */
export async function revokedIds(content: Uint8Array): Promise<Set<string>> {
  try {
    if (content.length <= WORKER_THRESHOLD_BYTES) return new Set(idsInline(content));
    const joined = await idsOnWorker(content);
    // Fill the Set straight from the joined string, a chunk at a time, yielding between chunks.
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
    throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `the revocation list cannot be read: ${(cause as Error).message}`, { cause });
  }
}
