import { readFileSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import { ConsecutiveBreaker, CircuitState, circuitBreaker, handleWhen, isBrokenCircuitError, type CircuitBreakerPolicy } from 'cockatiel';
import { ConfigError, IdentityServerError } from '../errors.js';
import { channels } from '../diagnostics.js';
import type { ResolvedOptions } from '../options.js';

/** An answer from the identity server. */
export interface IdentityResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as received. */
  body: Buffer;
  /** The body as UTF-8 text (decoded on first use). */
  readonly text: string;
}

export interface IdentityRequest {
  method?: 'GET' | 'POST' | 'HEAD';
  path: string;
  headers?: Record<string, string>;
  json?: unknown;
  /** How the request is named in errors and logs (never with a token in it). Default: method and path. */
  label?: string;
  /** Retry on 5xx answers as well as on network failures. Default true for GET. */
  retryServerErrors?: boolean;
  /** Another base URL than the identity endpoint (the keystoneauth auth_url). */
  base?: string;
  /** A bound on this answer's size, in place of identityResponseMaxBytes. */
  maxBytes?: number;
  /**
   * Streams the body of an answer instead of collecting it: called once per attempt when the status and headers
   * are in, it returns where the body goes (the answer's `body` is then empty), or undefined to collect it.
   */
  sink?: (status: number, headers: IdentityResponse['headers']) => BodySink | undefined;
}

/** Where a streamed body goes: each chunk as it arrives (handed over: the sink may keep or move it); `close` when the attempt fails. */
export interface BodySink {
  write(chunk: Uint8Array): void;
  close(): void;
}

/**
 * HTTP to the identity server: undici with keep-alive, timeouts (http_connect_timeout), retries with backoff
 * (http_request_max_retries), TLS settings (cafile, certfile/keyfile, insecure) and a bound on answer size.
 * Network failures and timeouts become IdentityServerError(ERR_IDENTITY_UNAVAILABLE), HTTP 503.
 */
/** What the last request to the identity server gave: for health(). */
export interface IdentityOutcome {
  ok: boolean;
  at: number;
  error?: string;
}

export class IdentityClient {
  /** The last request's outcome (undefined before the first). */
  lastOutcome: IdentityOutcome | undefined;
  /** Breaker state changes, for logs and diagnostics. */
  onBreakerChange: ((state: 'closed' | 'open' | 'half-open') => void) | undefined;
  private readonly breaker: CircuitBreakerPolicy;
  private readonly halfOpenAfterMs: number;
  private openedAt = 0;
  private base: string | undefined;
  private locator: (() => Promise<string>) | undefined;
  private locating: Promise<string> | undefined;
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly maxBytes: number;

  constructor(options: Pick<ResolvedOptions, 'identityUri' | 'httpTimeoutMs' | 'httpMaxRetries' | 'cafile' | 'certfile' | 'keyfile' | 'insecure' | 'identityResponseMaxBytes' | 'circuitBreakerThreshold' | 'circuitBreakerHalfOpenAfter'>) {
    // After circuitBreakerThreshold consecutive outages (unreachable, timeouts, 5xx), requests fail at once
    // (503 with Retry-After) instead of each waiting for its timeout; after circuitBreakerHalfOpenAfter seconds
    // one request probes, and its outcome closes or reopens the circuit. Answers such as 401 or 404 are not outages.
    this.halfOpenAfterMs = options.circuitBreakerHalfOpenAfter * 1000;
    this.breaker = circuitBreaker(handleWhen((error) => error instanceof IdentityServerError && (error.code === 'ERR_IDENTITY_UNAVAILABLE' || (error as IdentityServerError & { outage?: boolean }).outage === true)), {
      halfOpenAfter: this.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(Math.max(1, options.circuitBreakerThreshold)),
    });
    this.breaker.onStateChange((state) => {
      if (state === CircuitState.Open) this.openedAt = Date.now();
      this.onBreakerChange?.(state === CircuitState.Open ? 'open' : state === CircuitState.HalfOpen ? 'half-open' : 'closed');
    });
    this.base = options.identityUri?.replace(/\/+$/, '');
    this.timeoutMs = options.httpTimeoutMs;
    this.maxRetries = options.httpMaxRetries;
    this.maxBytes = options.identityResponseMaxBytes;
    const readPem = (name: string, path: string | undefined) => {
      if (!path) return undefined;
      try {
        return readFileSync(path);
      } catch (cause) {
        throw new ConfigError('ERR_CONFIG', `option ${name}: cannot read ${path} (${(cause as NodeJS.ErrnoException).code})`, { cause });
      }
    };
    this.agent = new Agent({
      connect: {
        timeout: this.timeoutMs,
        ca: readPem('cafile', options.cafile),
        cert: readPem('certfile', options.certfile),
        key: readPem('keyfile', options.keyfile),
        rejectUnauthorized: !options.insecure,
      },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      keepAliveTimeout: 30_000,
      connections: 32,
    });
  }

  /** The identity endpoint (identity_uri, or the one found in the service catalog). */
  get baseUrl(): string {
    return this.base ?? '<identity endpoint from the service catalog>';
  }

  /** How to find the identity endpoint when identity_uri is unset: authenticate and read the catalog. */
  useLocator(locator: () => Promise<string>): void {
    this.locator = locator;
  }

  /** Sets the identity endpoint found in the catalog. */
  setEndpoint(url: string): void {
    this.base = url.replace(/\/+$/, '');
  }

  private async endpoint(): Promise<string> {
    if (this.base) return this.base;
    if (!this.locator) throw new ConfigError('ERR_CONFIG', 'no identity endpoint: set identity_uri, or auth_type with auth_url');
    this.locating ??= this.locator().finally(() => (this.locating = undefined));
    return (this.base = await this.locating);
  }

  /** The breaker's state: closed (normal), open (failing fast) or half-open (one probe in flight). */
  get breakerState(): 'closed' | 'open' | 'half-open' {
    const state = this.breaker.state;
    return state === CircuitState.Open || state === CircuitState.Isolated ? 'open' : state === CircuitState.HalfOpen ? 'half-open' : 'closed';
  }

  async request(req: IdentityRequest): Promise<IdentityResponse> {
    if (!channels.identityRequest.hasSubscribers) return this.guarded(req);
    const start = performance.now();
    const label = req.label ?? `${req.method ?? 'GET'} ${req.path}`;
    try {
      const response = await this.guarded(req);
      channels.identityRequest.publish({ label, status: response.status, durationMs: performance.now() - start });
      return response;
    } catch (error) {
      channels.identityRequest.publish({ label, error: (error as { code?: string }).code ?? String(error), durationMs: performance.now() - start });
      throw error;
    }
  }

  private async guarded(req: IdentityRequest): Promise<IdentityResponse> {
    const label = req.label ?? `${req.method ?? 'GET'} ${req.path}`;
    try {
      const response = await this.breaker.execute(async () => {
        const answer = await this.requestWithRetries(req);
        if (answer.status >= 500) {
          // A server error is an outage for the breaker, but the caller still gets the answer to judge.
          throw Object.assign(new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered ${answer.status}`), { outage: true, answer });
        }
        return answer;
      });
      this.lastOutcome = { ok: true, at: Date.now() };
      return response;
    } catch (error) {
      const answer = (error as { answer?: IdentityResponse }).answer;
      if (answer) {
        this.lastOutcome = { ok: false, at: Date.now(), error: `HTTP ${answer.status}` };
        return answer;
      }
      if (isBrokenCircuitError(error)) {
        const retryAfterSeconds = Math.max(1, Math.ceil((this.openedAt + this.halfOpenAfterMs - Date.now()) / 1000));
        throw new IdentityServerError(
          'ERR_IDENTITY_UNAVAILABLE',
          `identity server ${req.base ?? this.baseUrl} is failing (circuit open after consecutive failures); ${label} not attempted; next probe in ${retryAfterSeconds} s`,
          { retryAfterSeconds },
        );
      }
      this.lastOutcome = { ok: false, at: Date.now(), error: (error as Error).message };
      throw error;
    }
  }

  private async requestWithRetries(req: IdentityRequest): Promise<IdentityResponse> {
    if (!req.base && !this.base) await this.endpoint();
    const method = req.method ?? 'GET';
    const label = req.label ?? `${method} ${req.path}`;
    const retryServerErrors = req.retryServerErrors ?? method === 'GET';
    let lastError: unknown;
    for (let attempt = 0; attempt <= this.maxRetries; attempt++) {
      if (attempt > 0) await sleep(Math.min(50 * 2 ** (attempt - 1), 1000));
      try {
        const response = await this.once(method, req, label);
        if (response.status >= 500 && retryServerErrors && attempt < this.maxRetries) {
          lastError = new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered ${response.status}`);
          continue;
        }
        return response;
      } catch (error) {
        lastError = error;
        if (error instanceof IdentityServerError && error.code === 'ERR_IDENTITY_RESPONSE') break; // too large: retrying will not help
      }
    }
    if (lastError instanceof IdentityServerError) throw lastError;
    const code = (lastError as { code?: string })?.code ?? (lastError as Error)?.name ?? 'error';
    throw new IdentityServerError(
      'ERR_IDENTITY_UNAVAILABLE',
      `identity server ${req.base ?? this.baseUrl} unreachable for ${label}: ${code} after ${this.maxRetries + 1} attempt(s); check identity_uri and that the server is up`,
      { cause: lastError },
    );
  }

  private async once(method: 'GET' | 'POST' | 'HEAD', req: IdentityRequest, label: string): Promise<IdentityResponse> {
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    let body: string | undefined;
    if (req.json !== undefined) {
      body = JSON.stringify(req.json);
      headers['content-type'] = 'application/json';
    }
    const response = await request(`${req.base ?? this.base}${req.path}`, {
      method,
      headers,
      body,
      dispatcher: this.agent as Dispatcher,
      signal: AbortSignal.timeout(this.timeoutMs * 2),
    });
    const maxBytes = req.maxBytes ?? this.maxBytes;
    const option = req.maxBytes === undefined ? 'identityResponseMaxBytes' : 'revocationListMaxBytes';
    const length = Number(response.headers['content-length'] ?? 0);
    if (length > maxBytes) {
      response.body.destroy();
      throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered ${length} bytes, over the limit of ${maxBytes} (option ${option})`);
    }
    const sink = req.sink?.(response.statusCode, response.headers);
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body) {
        size += chunk.length;
        if (size > maxBytes) {
          response.body.destroy();
          throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered more than ${maxBytes} bytes (option ${option})`);
        }
        if (sink) sink.write(chunk);
        else chunks.push(chunk);
      }
    } catch (error) {
      sink?.close();
      throw error;
    }
    const bytes = sink ? Buffer.alloc(0) : await joinChunks(chunks, size);
    let text: string | undefined;
    return {
      status: response.statusCode,
      headers: response.headers,
      body: bytes,
      get text() {
        return (text ??= bytes.toString('utf8'));
      },
    };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** Parses a JSON answer or throws IdentityServerError(ERR_IDENTITY_RESPONSE) naming the request. */
export function parseJsonResponse(response: IdentityResponse, label: string): unknown {
  try {
    return JSON.parse(response.text);
  } catch (cause) {
    throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered ${response.status} with a body that is not JSON`, { cause });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Above this size, a body is joined in slices with the event loop let run between them. */
const SLICE_BYTES = 1024 * 1024;

/**
 * The chunks as one Buffer. A large body (a revocation list of 100,000 entries is ~11 MB) gets its own
 * ArrayBuffer, filled a slice at a time: one 11 MB copy would stall requests for ~10 ms, and the buffer can
 * then be handed to a worker thread without another copy.
 */
async function joinChunks(chunks: Buffer[], size: number): Promise<Buffer> {
  if (size <= SLICE_BYTES) return Buffer.concat(chunks, size);
  const joined = Buffer.from(new ArrayBuffer(size));
  let offset = 0;
  let sinceYield = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.length;
    sinceYield += chunk.length;
    if (sinceYield >= SLICE_BYTES) {
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return joined;
}
