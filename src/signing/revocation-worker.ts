import { Worker } from 'node:worker_threads';
import { IdentityServerError } from '../errors.js';
import { revocationCodec, type RevocationTables } from './revocation-codec.js';
import { RevocationEntries } from './revoked-set.js';

/**
 * A revocation list of 1,000,000 entries is ~160 MB of JSON wrapping ~160 MB of PEM wrapping ~120 MB of JSON.
 * Past this size a list is read on a worker thread, while it arrives: the worker decodes the answer into the
 * DER as chunks come in (on memory it shares with the main thread: nothing is copied back), then reads the ids
 * into tables while the main thread writes revoked.pem. The main thread walks the DER's structure and hashes
 * the content for the signature a slice at a time.
 */
export const WORKER_THRESHOLD_BYTES = 256 * 1024;

/** Input is handed to the worker in pieces of at most this size. */
const PIECE_BYTES = 1024 * 1024;

/**
 * Self-contained worker code (no imports from this package, so it runs the same from the ESM and CommonJS
 * builds: revocationCodec is self-contained for this reason). Messages in: {chunk}, {end}, {scan, offset,
 * length} or {scan, bytes}; out: {type: 'der' | 'digest' | 'tables' | 'error'}.
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
let decoder = codec.envelope(workerData.kind, workerData.sizeHint, true, workerData.buffer);
let der;
parentPort.on('message', (message) => {
  try {
    if (message.chunk) decoder.push(message.chunk);
    else if (message.end) {
      der = decoder.end();
      decoder = undefined;
      parentPort.postMessage({ type: 'der', der });
      // The DER's SHA-256, while the main thread verifies: an unchanged list need not be written again.
      parentPort.postMessage({ type: 'digest', digest: require('node:crypto').createHash('sha256').update(der).digest('hex') });
    } else if (message.scan) {
      const tables = codec.scanContent(message.bytes || new Uint8Array(der.buffer, message.offset, message.length));
      const buffers = [...tables.ids.tables, ...tables.ids.odd, ...tables.auditIds.tables, ...tables.auditIds.odd].flatMap((table) => [table.bytes.buffer, table.index.buffer, table.expires.buffer]);
      parentPort.postMessage({ type: 'tables', tables }, buffers);
    }
  } catch (error) {
    decoder = undefined;
    parentPort.postMessage({ type: 'error', error: String((error && error.message) || error) });
  }
});
`;

const codec = revocationCodec();

function fail(cause: unknown): never {
  if (cause instanceof IdentityServerError) throw cause;
  throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `the revocation list cannot be read: ${(cause as Error).message}`, { cause });
}

type Reply = { type: 'der'; der: Uint8Array } | { type: 'digest'; digest: string } | { type: 'tables'; tables: RevocationTables } | { type: 'error'; error: string };

/**
 * Reads one signed revocation list: written to as its bytes arrive (Keystone's JSON answer, or the PEM of
 * revoked.pem), then asked for the signed list and its entries. A small list is read on
 * the main thread; past WORKER_THRESHOLD_BYTES a worker takes over. `close()` ends the worker; every failure is
 * an IdentityServerError (ERR_IDENTITY_RESPONSE).
 */
export class RevocationReader {
  private buffered: Uint8Array[] = [];
  private size = 0;
  private worker: Worker | undefined;
  private readonly waiting = new Map<string, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  /** Replies that came before they were asked for. */
  private readonly arrived = new Map<string, Reply>();
  private failure: Error | undefined;
  private der: Uint8Array | undefined;
  /** See start(). */
  private ballast: ArrayBuffer | undefined;

  /** `sizeHint`: the expected length in bytes (a Content-Length), used to size the DER once. */
  constructor(
    private readonly kind: 'json' | 'pem',
    private readonly sizeHint = 0,
  ) {}

  /** The next bytes. The chunk is handed over: it may be moved to the worker thread (and then be unusable here). */
  write(chunk: Uint8Array): void {
    if (this.failure) return;
    if (!this.worker) {
      this.buffered.push(chunk);
      this.size += chunk.length;
      if (this.size > WORKER_THRESHOLD_BYTES) this.start();
      return;
    }
    this.post(chunk);
  }

  /** After the last write: the signed list, as its PEM text (small) or its DER (large, shared with the worker). */
  async signed(): Promise<string | Uint8Array> {
    try {
      if (!this.worker) {
        const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(this.buffered, this.size));
        this.buffered = [];
        if (this.kind === 'pem') return text;
        const parsed = JSON.parse(text) as { signed?: unknown } | null;
        if (typeof parsed?.signed !== 'string') throw new Error('the answer has no "signed" revocation list');
        return parsed.signed;
      }
      const reply = this.expect('der');
      this.worker.postMessage({ end: true });
      this.der = ((await reply) as { der: Uint8Array }).der;
      return this.der;
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
      if (!this.worker) this.start();
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
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    this.fault(new Error('the reader was closed'));
    void worker.terminate();
  }

  private start(): void {
    // execArgv: [] keeps loaders the process was started with (tsx, say) out of a worker that needs none.
    const sizeHint = Math.max(this.sizeHint, this.size);
    const bytes = sizeHint > 0 ? Math.ceil((sizeHint * 3) / 4) + 16 : 1 << 20;
    const buffer = new SharedArrayBuffer(bytes);
    // V8 does not count shared memory towards what makes it collect garbage: a reader dropped here (a failed
    // refresh, or a replaced list) kept its DER until a collection happened to run, and with little else
    // allocated none did (100 failed refreshes of a 100,000-entry list in a row: RSS +1 GiB, all of it freed by
    // one collection). An ordinary ArrayBuffer of the same size, never written (so never resident: only address
    // space), lives as long as the reader and is counted: the collector comes when such readers add up.
    this.ballast = new ArrayBuffer(bytes);
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { kind: this.kind, sizeHint, buffer } });
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
    for (const chunk of this.buffered) this.post(chunk);
    this.buffered = [];
  }

  /**
   * The chunk, moved to the worker: as it is when it is all of its ArrayBuffer (a socket read usually is),
   * else copies of its pieces (posting a view would clone all of its ArrayBuffer).
   */
  private post(chunk: Uint8Array): void {
    if (chunk.byteOffset === 0 && chunk.buffer instanceof ArrayBuffer && chunk.buffer.byteLength === chunk.length && chunk.length <= PIECE_BYTES) {
      this.worker!.postMessage({ chunk }, [chunk.buffer]);
      return;
    }
    for (let offset = 0; offset < chunk.length; offset += PIECE_BYTES) {
      const piece = new Uint8Array(chunk.subarray(offset, offset + PIECE_BYTES));
      this.worker!.postMessage({ chunk: piece }, [piece.buffer]);
    }
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
