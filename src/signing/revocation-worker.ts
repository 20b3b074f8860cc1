import { Worker } from 'node:worker_threads';
import { IdentityServerError } from '../errors.js';
import { revocationCodec, type EnvelopeDecoder, type RevocationTables } from './revocation-codec.js';
import { RevocationEntries } from './revoked-set.js';

/**
 * A revocation list of 1,000,000 entries is ~160 MB of JSON wrapping ~160 MB of PEM wrapping ~120 MB of JSON.
 * Past this size a list is decoded as it arrives, chunk by chunk on the main thread, into its DER (each chunk
 * takes a fraction of a millisecond with Node's native base64, and is garbage as soon as it is decoded). Once the
 * main thread has verified the signature, the DER is moved to a worker thread, which reads the ids into tables,
 * hashes the DER, and writes revoked.pem when the list changed; the DER is freed when the worker ends, not when
 * the main thread next collects its garbage.
 * - Chunks were once moved to the worker to be decoded there: the socket's 64 KiB buffers, allocated on the main
 *   thread and freed only when the worker collected its garbage, piled up in the main thread's allocator
 *   (+160 MiB resident after one refresh, kept by the C allocator).
 * - The DER was once shared memory held by both threads: after each refresh ~90 MiB waited for the main thread's
 *   next full collection.
 */
export const WORKER_THRESHOLD_BYTES = 256 * 1024;

/**
 * Self-contained worker code (no imports from this package, so it runs the same from the ESM and CommonJS
 * builds: revocationCodec is self-contained for this reason). Messages in: {scan, buffer, derOffset, derLength,
 * offset, length} (the DER, moved here, and where its content lies) or {scan, bytes} (the content alone), then
 * {pem: fd}; out: {type: 'tables' | 'digest' | 'written' | 'error'}.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
try {
  // Linux: this thread alone at the lowest CPU priority, so that on a busy machine request handling comes first.
  const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  if (tid > 0) require('node:os').setPriority(tid, 19);
} catch {}
// esbuild (tsx) names functions with __name(); the function's text runs here without esbuild's runtime.
const __name = (f) => f;
const codec = (${revocationCodec.toString()})();
const message = (error) => String((error && error.message) || error);
let der;
/** The DER's PEM into fd, 72 KiB of DER (1,536 lines of 64 characters) at a time. */
function writePem(fd) {
  const put = (bytes) => {
    for (let at = 0; at < bytes.length; ) at += fs.writeSync(fd, bytes, at, bytes.length - at);
  };
  put(Buffer.from('-----BEGIN CMS-----\\n'));
  const step = 72 * 1024;
  const base64 = Buffer.allocUnsafe((step / 3) * 4);
  const lines = Buffer.allocUnsafe((step / 3) * 4 + step / 48);
  for (let offset = 0; offset < der.length; offset += step) {
    const length = base64.write(Buffer.from(der.buffer, der.byteOffset + offset, Math.min(step, der.length - offset)).toString('base64'), 'latin1');
    let at = 0;
    for (let i = 0; i < length; i += 64) {
      at += base64.copy(lines, at, i, Math.min(i + 64, length));
      lines[at++] = 0x0a;
    }
    put(lines.subarray(0, at));
  }
  put(Buffer.from('-----END CMS-----\\n'));
}
parentPort.on('message', (m) => {
  if (m.pem !== undefined) {
    try {
      writePem(m.pem);
      parentPort.postMessage({ type: 'written' });
    } catch (error) {
      parentPort.postMessage({ type: 'written', error: message(error) });
    }
    return;
  }
  try {
    if (m.buffer) der = new Uint8Array(m.buffer, m.derOffset, m.derLength);
    const tables = codec.scanContent(m.bytes || new Uint8Array(m.buffer, m.offset, m.length));
    const buffers = [...new Set([...tables.ids.tables, ...tables.ids.odd, ...tables.auditIds.tables, ...tables.auditIds.odd].flatMap((table) => [table.bytes.buffer, table.index.buffer, table.expires.buffer]))];
    parentPort.postMessage({ type: 'tables', tables }, buffers);
    // The DER's SHA-256: an unchanged list need not be written again.
    if (der) parentPort.postMessage({ type: 'digest', digest: require('node:crypto').createHash('sha256').update(der).digest('hex') });
  } catch (error) {
    parentPort.postMessage({ type: 'error', error: message(error) });
  }
});
`;

const codec = revocationCodec();

function fail(cause: unknown): never {
  if (cause instanceof IdentityServerError) throw cause;
  throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `the revocation list cannot be read: ${(cause as Error).message}`, { cause });
}

type Reply = { type: 'digest'; digest: string } | { type: 'tables'; tables: RevocationTables } | { type: 'written'; error?: string } | { type: 'error'; error: string };

/**
 * Reads one signed revocation list: written to as its bytes arrive (Keystone's JSON answer, or the PEM of
 * revoked.pem), then asked for the signed list, its entries, the DER's digest and its PEM. A small list is read
 * on the main thread at the end; past WORKER_THRESHOLD_BYTES see above. `close()` ends the worker (call it when
 * done); every failure is an IdentityServerError (ERR_IDENTITY_RESPONSE).
 */
export class RevocationReader {
  private buffered: Uint8Array[] = [];
  private size = 0;
  private decoder: EnvelopeDecoder | undefined;
  private worker: Worker | undefined;
  /** Resolves when the worker thread has stopped (it may be writing into a file descriptor until then). */
  private stopped: Promise<void> = Promise.resolve();
  private readonly waiting = new Map<string, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  /** Replies that came before they were asked for. */
  private readonly arrived = new Map<string, Reply>();
  private failure: Error | undefined;
  /** Whether the DER was moved to the worker (digest() and writePem() need it there). */
  private derMoved = false;

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
      if (this.size > WORKER_THRESHOLD_BYTES) {
        this.decoder = codec.envelope(this.kind, Math.max(this.sizeHint, this.size));
        const buffered = this.buffered;
        this.buffered = [];
        for (const piece of buffered) this.push(piece);
      }
      return;
    }
    this.push(chunk);
  }

  /** After the last write: the signed list, as its PEM text (small) or its DER (large). */
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
      return der;
    } catch (cause) {
      this.close();
      return fail(cause);
    }
  }

  /**
   * The entries of the verified content. A large list is read on the worker thread; when `der` (the DER
   * signed() gave, which `content` lies in) is given it is moved there, and is unusable here afterwards.
   */
  async entries(content: Uint8Array, der?: Uint8Array): Promise<RevocationEntries> {
    try {
      if (content.length <= WORKER_THRESHOLD_BYTES && !der) return new RevocationEntries(codec.scanContent(content));
      if (!this.worker) this.startWorker();
      const reply = this.expect('tables');
      const buffer = der?.buffer;
      if (der && buffer instanceof ArrayBuffer && content.buffer === buffer) {
        this.worker!.postMessage({ scan: true, buffer, derOffset: der.byteOffset, derLength: der.length, offset: content.byteOffset, length: content.length }, [buffer]);
        this.derMoved = true;
      } else {
        const bytes = new Uint8Array(content); // a view's whole ArrayBuffer would be cloned: send a copy, moved
        this.worker!.postMessage({ scan: true, bytes }, [bytes.buffer]);
      }
      return new RevocationEntries(((await reply) as { tables: RevocationTables }).tables);
    } catch (cause) {
      this.close();
      return fail(cause);
    }
  }

  /** After entries(content, der): the SHA-256 (hex) of the DER; undefined when it was not moved or is unknown. */
  async digest(): Promise<string | undefined> {
    if (!this.derMoved) return undefined;
    try {
      return ((await this.expect('digest')) as { digest: string }).digest;
    } catch {
      return undefined;
    }
  }

  /**
   * After entries(content, der): the DER's PEM written into `fd` by the worker thread. Settles only once the
   * worker has written, or has stopped: the caller may then close the descriptor (never while the thread could
   * still write into it, and so into whatever file reuses its number).
   */
  async writePem(fd: number): Promise<void> {
    if (!this.derMoved || !this.worker) throw new Error('the revocation list is no longer at hand');
    if (this.failure) throw this.failure;
    const reply = this.expect('written').catch(async (error: Error) => {
      await this.stopped;
      throw error;
    });
    this.worker.postMessage({ pem: fd });
    const written = (await reply) as { error?: string };
    if (written.error) throw new Error(written.error);
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

  private push(chunk: Uint8Array): void {
    try {
      this.decoder!.push(chunk);
    } catch (error) {
      this.decoder = undefined;
      this.fault(error as Error);
    }
  }

  private startWorker(): void {
    // execArgv: [] keeps loaders the process was started with (tsx, say) out of a worker that needs none.
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    this.worker = worker;
    this.stopped = new Promise((resolve) => worker.once('exit', () => resolve()));
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
 * The signed list of a whole answer ({"signed": PEM}, or the PEM of revoked.pem): a large one as its DER, a
 * small one as its PEM text.
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
export async function revokedIds(content: Uint8Array): Promise<RevocationEntries> {
  const reader = new RevocationReader('json');
  try {
    return await reader.entries(content);
  } finally {
    reader.close();
  }
}
