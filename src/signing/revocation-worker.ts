import { Worker } from 'node:worker_threads';
import { IdentityServerError } from '../errors.js';
import { revocationCodec, type EnvelopeDecoder, type RevocationTables } from './revocation-codec.js';
import { RevocationEntries } from './revoked-set.js';

/**
 * A revocation list of 1,000,000 entries is ~160 MB of JSON wrapping ~160 MB of PEM wrapping ~120 MB of JSON.
 * Past this size a list is decoded as it arrives, chunk by chunk on the main thread, into its DER on memory shared
 * with a worker thread (each chunk takes a fraction of a millisecond with Node's native base64, and is garbage as
 * soon as it is decoded); the worker then hashes the DER and reads the ids into tables while the main thread
 * verifies the signature and writes revoked.pem. Chunks were once moved to the worker to be decoded there: the
 * socket's 64 KiB buffers, allocated on the main thread and freed only when the worker collected its garbage,
 * then piled up in the main thread's allocator (+160 MiB resident after one refresh, kept by the C allocator).
 */
export const WORKER_THRESHOLD_BYTES = 256 * 1024;

/**
 * Self-contained worker code (no imports from this package, so it runs the same from the ESM and CommonJS
 * builds: revocationCodec is self-contained for this reason). workerData: {buffer, offset, length}, the DER on
 * shared memory, or none; messages in: {scan, offset, length} (on that buffer) or {scan, bytes}; out: {type:
 * 'digest' | 'tables' | 'error'}.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
try {
  // Linux: this thread alone at the lowest CPU priority, so that on a busy machine request handling comes first.
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  if (tid > 0) require('node:os').setPriority(tid, 19);
} catch {}
// esbuild (tsx) names functions with __name(); the function's text runs here without esbuild's runtime.
const __name = (f) => f;
const codec = (${revocationCodec.toString()})();
const shared = workerData.buffer;
try {
  // The DER's SHA-256, while the main thread verifies: an unchanged list need not be written again.
  if (shared) parentPort.postMessage({ type: 'digest', digest: require('node:crypto').createHash('sha256').update(new Uint8Array(shared, workerData.offset, workerData.length)).digest('hex') });
} catch (error) {
  parentPort.postMessage({ type: 'error', error: String((error && error.message) || error) });
}
parentPort.on('message', (message) => {
  try {
    if (message.scan) {
      const tables = codec.scanContent(message.bytes || new Uint8Array(shared, message.offset, message.length));
      const buffers = [...new Set([...tables.ids.tables, ...tables.auditIds.tables].flatMap((table) => [table.bytes.buffer, table.index.buffer, table.expires.buffer]))];
      parentPort.postMessage({ type: 'tables', tables }, buffers);
    }
  } catch (error) {
    parentPort.postMessage({ type: 'error', error: String((error && error.message) || error) });
  }
});
`;

const codec = revocationCodec();

function fail(cause: unknown): never {
  if (cause instanceof IdentityServerError) throw cause;
  throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `the revocation list cannot be read: ${(cause as Error).message}`, { cause });
}

type Reply = { type: 'digest'; digest: string } | { type: 'tables'; tables: RevocationTables } | { type: 'error'; error: string };

/**
 * Reads one signed revocation list: written to as its bytes arrive (Keystone's JSON answer, or the PEM of
 * revoked.pem), then asked for the signed list and its entries. A small list is read on the main thread at the
 * end; past WORKER_THRESHOLD_BYTES it is decoded as it arrives and its ids are read on a worker thread. `close()`
 * ends the worker; every failure is an IdentityServerError (ERR_IDENTITY_RESPONSE).
 */
export class RevocationReader {
  private buffered: Uint8Array[] = [];
  private size = 0;
  private decoder: EnvelopeDecoder | undefined;
  private worker: Worker | undefined;
  private readonly waiting = new Map<string, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  /** Replies that came before they were asked for. */
  private readonly arrived = new Map<string, Reply>();
  private failure: Error | undefined;
  private der: Uint8Array | undefined;
  /** See startDecoding(). */
  private ballast: ArrayBuffer | undefined;

  /** `sizeHint`: the expected length in bytes (a Content-Length), used to size the DER once. */
  constructor(
    private readonly kind: 'json' | 'pem',
    private readonly sizeHint = 0,
  ) {}

  /** The next bytes (not kept past this call when the list is large: decoded at once). */
  write(chunk: Uint8Array): void {
    if (this.failure) return;
    if (!this.decoder) {
      this.buffered.push(chunk);
      this.size += chunk.length;
      if (this.size > WORKER_THRESHOLD_BYTES) this.startDecoding();
      return;
    }
    this.push(chunk);
  }

  /** After the last write: the signed list, as its PEM text (small) or its DER (large, shared with the worker). */
  async signed(): Promise<string | Uint8Array> {
    try {
      if (this.failure) throw this.failure;
      if (!this.decoder) {
        const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(this.buffered, this.size));
        this.buffered = [];
        if (this.kind === 'pem') return text;
        const parsed = JSON.parse(text) as { signed?: unknown } | null;
        if (typeof parsed?.signed !== 'string') throw new Error('the answer has no "signed" revocation list');
        return parsed.signed;
      }
      const der = this.decoder.end();
      this.decoder = undefined;
      this.der = der;
      this.startWorker(der);
      return der;
    } catch (cause) {
      this.close();
      return fail(cause);
    }
  }

  /**
   * The SHA-256 (hex) of a large list's DER, computed on the worker after it decoded it; undefined for a list
   * read on the main thread.
   */
  async digest(): Promise<string | undefined> {
    if (!this.der) return undefined; // (it may have arrived before the worker was closed)
    try {
      return ((await this.expect('digest')) as { digest: string }).digest;
    } catch {
      return undefined;
    }
  }

  /** The entries of the verified content; the worker, if any, ends with this. */
  async entries(content: Uint8Array): Promise<RevocationEntries> {
    try {
      if (content.length <= WORKER_THRESHOLD_BYTES) return new RevocationEntries(codec.scanContent(content));
      if (!this.worker) this.startWorker(undefined);
      const reply = this.expect('tables');
      if (this.der && content.buffer === this.der.buffer) this.worker!.postMessage({ scan: true, offset: content.byteOffset, length: content.length });
      else {
        const bytes = new Uint8Array(content); // a view's whole ArrayBuffer would be cloned: send a copy, moved
        this.worker!.postMessage({ scan: true, bytes }, [bytes.buffer]);
      }
      return new RevocationEntries(((await reply) as { tables: RevocationTables }).tables);
    } catch (cause) {
      return fail(cause);
    } finally {
      this.close();
    }
  }

  /** Ends the worker (idempotent); what is still awaited is refused. */
  close(): void {
    this.decoder = undefined;
    this.buffered = [];
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    this.fault(new Error('the reader was closed'));
    void worker.terminate();
  }

  private startDecoding(): void {
    const sizeHint = Math.max(this.sizeHint, this.size);
    // V8 does not count shared memory towards what makes it collect garbage: a reader dropped here (a failed
    // refresh, or a replaced list) kept its DER until a collection happened to run, and with little else
    // allocated none did (100 failed refreshes of a 100,000-entry list in a row: RSS +1 GiB, all of it freed by
    // one collection). An ordinary ArrayBuffer of the same size, never written (so never resident: only address
    // space), lives as long as the reader and is counted: the collector comes when such readers add up.
    this.ballast = new ArrayBuffer(Math.ceil((sizeHint * 3) / 4) + 16);
    this.decoder = codec.envelope(this.kind, sizeHint, true);
    const buffered = this.buffered;
    this.buffered = [];
    for (const chunk of buffered) this.push(chunk);
  }

  private push(chunk: Uint8Array): void {
    try {
      this.decoder!.push(chunk);
    } catch (error) {
      this.decoder = undefined;
      this.fault(error as Error);
    }
  }

  private startWorker(der: Uint8Array | undefined): void {
    // execArgv: [] keeps loaders the process was started with (tsx, say) out of a worker that needs none.
    const workerData = der ? { buffer: der.buffer, offset: der.byteOffset, length: der.length } : {};
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData });
    this.worker = worker;
    worker.on('message', (reply: Reply) => {
      if (reply.type === 'error') return this.fault(new Error(reply.error));
      const waiter = this.waiting.get(reply.type);
      this.waiting.delete(reply.type);
      if (waiter) waiter.resolve(reply);
      else this.arrived.set(reply.type, reply);
    });
    worker.once('error', (error) => this.fault(error));
    worker.once('exit', (code) => this.fault(new Error(`the worker thread stopped (exit code ${code})`)));
  }

  private expect(type: Reply['type']): Promise<Reply> {
    const arrived = this.arrived.get(type);
    if (arrived) {
      this.arrived.delete(type);
      return Promise.resolve(arrived);
    }
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiting.set(type, { resolve, reject }));
  }

  private fault(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiting.values()) waiter.reject(this.failure);
    this.waiting.clear();
  }
}

/**
 * The signed list of a whole answer ({"signed": PEM}, or the PEM of revoked.pem): a large one as its DER,
 * decoded on a worker thread; a small one as its PEM text.
 */
export async function decodeRevocationList(body: Uint8Array, kind: 'json' | 'pem'): Promise<Uint8Array | string> {
  const reader = new RevocationReader(kind, body.length);
  reader.write(body);
  try {
    return await reader.signed();
  } finally {
    reader.close();
  }
}

/** The entries of a verified revocation list's content (read on a worker thread when large). */
export function revokedIds(content: Uint8Array): Promise<RevocationEntries> {
  return new RevocationReader('json').entries(content);
}
