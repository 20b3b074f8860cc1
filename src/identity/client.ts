import { readFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { ConsecutiveBreaker, CircuitState, circuitBreaker, handleWhen, isBrokenCircuitError, type CircuitBreakerPolicy } from 'cockatiel';
import { ConfigError, IdentityServerError } from '../errors.js';
import { channels } from '../diagnostics.js';
import type { ResolvedOptions } from '../options.js';

/** An answer from the identity server. */
/** See IdentityClient.once: the longest a body sink works before the event loop gets a turn. */
const SINK_SLICE_MS = 4;

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
  /** Retry on 5xx answers as well as on network failures. Default true for GET (never with `control`). */
  retryServerErrors?: boolean;
  /**
   * How many times this request is retried at once after a failure (transport, or 5xx with `retryServerErrors`),
   * in place of http_request_max_retries. 0 for a request whose caller has its own retry (the revocation list's
   * back-off).
   */
  maxRetries?: number;
  /** Aborts the request (and its retries) when it fires: the validation's deadline. Its reason is thrown. */
  signal?: AbortSignal;
  /**
   * Set when the outcome depends on what a client sent (a token to validate): the request then never feeds the
   * circuit breaker by itself, is not retried on 5xx, and is refused at once while the circuit is open. When it
   * fails (transport failure, 5xx), the control request (one whose outcome does not depend on any client: a
   * validation of the service's own token) is sent through the breaker instead, and only its failure counts as
   * an outage. So a token the identity server chokes on costs its sender a 503 and nobody else anything.
   */
  control?: () => Promise<IdentityRequest>;
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
  /** Where `base` came from, for messages. */
  private baseSource: 'catalog' | 'option';
  private readonly sources: { option: string; interface: string; regionName: string | undefined };
  /** The control request in flight (one at a time, shared). */
  private confirming: Promise<void> | undefined;
  /** When the last control request succeeded. */
  private confirmedAt = 0;
  /** Origins found to speak plain HTTP where https:// was configured, and until when that verdict holds. */
  private readonly plainHttp = new Map<string, number>();
  private locator: (() => Promise<string>) | undefined;
  private locating: Promise<string> | undefined;
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly maxBytes: number;

  constructor(options: Pick<ResolvedOptions, 'identityUri' | 'identityUriSource' | 'interface' | 'regionName' | 'httpTimeoutMs' | 'httpMaxRetries' | 'cafile' | 'certfile' | 'keyfile' | 'insecure' | 'identityResponseMaxBytes' | 'circuitBreakerThreshold' | 'circuitBreakerHalfOpenAfter'>) {
    // After circuitBreakerThreshold consecutive outages (unreachable, timeouts, 5xx), requests fail at once
    // (503 with Retry-After) instead of each waiting for its timeout; after circuitBreakerHalfOpenAfter seconds
    // one request probes, and its outcome closes or reopens the circuit. Answers such as 401 or 404 are not outages.
    this.halfOpenAfterMs = options.circuitBreakerHalfOpenAfter * 1000;
    // Requests whose outcome depends on a client's token never get here alone (see IdentityRequest.control).
    this.breaker = circuitBreaker(handleWhen((error) => error instanceof IdentityServerError && (error.code === 'ERR_IDENTITY_UNAVAILABLE' || error.code === 'ERR_IDENTITY_TLS' || (error as IdentityServerError & { outage?: boolean }).outage === true)), {
      halfOpenAfter: this.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(Math.max(1, options.circuitBreakerThreshold)),
    });
    this.breaker.onStateChange((state) => {
      if (state === CircuitState.Open) this.openedAt = Date.now();
      this.onBreakerChange?.(state === CircuitState.Open ? 'open' : state === CircuitState.HalfOpen ? 'half-open' : 'closed');
    });
    this.base = options.identityUri?.replace(/\/+$/, '');
    this.baseSource = 'option';
    this.sources = { option: options.identityUriSource ?? 'identity_uri', interface: options.interface, regionName: options.regionName };
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
    this.baseSource = 'catalog';
  }

  /** True when the identity endpoint was read from the service catalog (not configured). */
  get fromCatalog(): boolean {
    return this.baseSource === 'catalog';
  }

  /**
   * Where a request's URL came from, for messages: `what` names it (e.g. "auth_url http://k:5000", "the identity
   * endpoint http://k:5000 from the service catalog (interface internal, region RegionOne)"), `check` says what
   * to look at.
   */
  describeEndpoint(base?: string): { what: string; check: string } {
    if (base !== undefined) return { what: `auth_url ${base}`, check: 'check auth_url and that the identity server is up' };
    if (this.baseSource === 'catalog') {
      const where = `interface ${this.sources.interface}, ${this.sources.regionName ? `region ${this.sources.regionName}` : 'any region (region_name unset)'}`;
      return {
        what: `the identity endpoint ${this.baseUrl} from the service catalog (${where})`,
        check: `check that catalog entry (openstack endpoint list --service identity --interface ${this.sources.interface}) and that the server is up, or set identity_uri, interface or region_name`,
      };
    }
    return { what: `${this.sources.option} ${this.baseUrl}`, check: `check ${this.sources.option} and that the identity server is up` };
  }

  private async endpoint(): Promise<string> {
    if (this.base) return this.base;
    if (!this.locator) throw new ConfigError('ERR_CONFIG', 'no identity endpoint: set identity_uri, or auth_type with auth_url');
    this.locating ??= this.locator().finally(() => (this.locating = undefined));
    const found = await this.locating;
    this.setEndpoint(found);
    return this.base!;
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
    if (req.control) return this.clientDependent(req, req.control);
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
          `identity server (${this.describeEndpoint(req.base).what}) is failing (circuit open after consecutive failures); ${label} not attempted; next probe in ${retryAfterSeconds} s`,
          { retryAfterSeconds },
        );
      }
      this.lastOutcome = { ok: false, at: Date.now(), error: (error as Error).message };
      throw error;
    }
  }

  /**
   * A request whose outcome depends on a client's input (see IdentityRequest.control). While the circuit is open
   * it is refused at once (or, when a probe is due, the control request is the probe); its own failures are
   * judged by the control request: when that one succeeds, the failure is the client's input's alone and no
   * outage is counted.
   */
  private async clientDependent(req: IdentityRequest, control: () => Promise<IdentityRequest>): Promise<IdentityResponse> {
    const label = req.label ?? `${req.method ?? 'GET'} ${req.path}`;
    if (this.breaker.state !== CircuitState.Closed) await this.confirmServer(control, req.signal);
    let answer: IdentityResponse | undefined;
    let failure: unknown;
    try {
      answer = await this.requestWithRetries({ ...req, retryServerErrors: false });
      if (answer.status < 500) {
        this.lastOutcome = { ok: true, at: Date.now() };
        return answer;
      }
    } catch (error) {
      if (!(error instanceof IdentityServerError) || (error.code !== 'ERR_IDENTITY_UNAVAILABLE' && error.code !== 'ERR_IDENTITY_TLS')) throw error; // deadline, too large: not the server's health
      failure = error;
    }
    // Is the identity server failing, or failing on this input only? Ask with input of our own.
    try {
      await this.confirmServer(control, req.signal);
    } catch (error) {
      if (error instanceof IdentityServerError && error.code === 'ERR_IDENTITY_TIMEOUT') throw error;
      if (answer) return answer; // the caller judges the 5xx
      throw failure;
    }
    if (answer) return answer;
    throw new IdentityServerError(
      'ERR_IDENTITY_RESPONSE',
      `${label} failed (${(failure as Error).message}) while the identity server validates the service's own token: not counted as an outage (a failure on this token only, e.g. one too long for the server's header buffer, or a slow answer)`,
      { cause: failure },
    );
  }

  /**
   * The control request (shared while in flight), through the breaker: resolves when the server answers below 500.
   * A success stands for CONTROL_FRESH_MS while the circuit is closed, so a burst of failing tokens costs one
   * control request, not one each.
   */
  private async confirmServer(control: () => Promise<IdentityRequest>, signal: AbortSignal | undefined): Promise<void> {
    if (this.breaker.state === CircuitState.Closed && Date.now() - this.confirmedAt < CONTROL_FRESH_MS) return;
    this.confirming ??= (async () => {
      const req = await control();
      const answer = await this.guarded(req);
      if (answer.status >= 500) throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `${req.label ?? req.path} answered ${answer.status}`);
      this.confirmedAt = Date.now();
    })().finally(() => (this.confirming = undefined));
    await untilAborted(this.confirming, signal);
  }

  private async requestWithRetries(req: IdentityRequest): Promise<IdentityResponse> {
    if (!req.base && !this.base) await this.endpoint();
    const method = req.method ?? 'GET';
    const label = req.label ?? `${method} ${req.path}`;
    const retryServerErrors = req.retryServerErrors ?? method === 'GET';
    const url = new URL(`${req.base ?? this.base}${req.path}`);
    const endpoint = this.describeEndpoint(req.base);
    const plainUntil = this.plainHttp.get(url.origin);
    if (plainUntil !== undefined && plainUntil > Date.now()) throw plainHttpError(endpoint.what, url, label);
    const maxRetries = Math.max(0, req.maxRetries ?? this.maxRetries);
    let lastError: unknown;
    let attempts = 0;
    for (let attempt = 0; attempt <= maxRetries; attempt++) {
      if (attempt > 0) await sleep(Math.min(50 * 2 ** (attempt - 1), 1000), req.signal);
      if (req.signal?.aborted) throw req.signal.reason;
      attempts++;
      try {
        const response = await this.once(method, req, label);
        if (response.status >= 500 && retryServerErrors && attempt < maxRetries) {
          lastError = new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered ${response.status}`);
          continue;
        }
        return response;
      } catch (error) {
        if (req.signal?.aborted) throw req.signal.reason;
        lastError = error;
        if (error instanceof IdentityServerError && error.code === 'ERR_IDENTITY_RESPONSE') break; // too large: retrying will not help
        if (url.protocol === 'https:' && isTlsHandshakeFailure(error) && (await speaksPlainHttp(url, Math.min(2000, this.timeoutMs)))) {
          this.plainHttp.set(url.origin, Date.now() + 30_000);
          throw plainHttpError(endpoint.what, url, label);
        }
      }
    }
    if (lastError instanceof IdentityServerError) throw lastError;
    throw new IdentityServerError(
      'ERR_IDENTITY_UNAVAILABLE',
      `identity server unreachable (${endpoint.what}) for ${label}: ${describeFailure(lastError, this.timeoutMs)} after ${attempts} attempt(s); ${endpoint.check}`,
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
      signal: req.signal ? AbortSignal.any([req.signal, AbortSignal.timeout(this.timeoutMs * 2)]) : AbortSignal.timeout(this.timeoutMs * 2),
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
    // A sink works on each chunk as it comes (a revocation list of 1,000,000 entries is 2,500 chunks of 64 KiB),
    // and chunks already read come one after another without a turn of the event loop: a turn is given every
    // SINK_SLICE_MS of that work, so that requests are not held up behind the download.
    let sliceStart = performance.now();
    try {
      for await (const chunk of response.body) {
        size += chunk.length;
        if (size > maxBytes) {
          response.body.destroy();
          throw new IdentityServerError('ERR_IDENTITY_RESPONSE', `${label} answered more than ${maxBytes} bytes (option ${option})`);
        }
        if (!sink) {
          chunks.push(chunk);
          continue;
        }
        sink.write(chunk);
        if (performance.now() - sliceStart >= SINK_SLICE_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
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

/** How long a successful control request vouches for the identity server's health. */
const CONTROL_FRESH_MS = 5000;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return untilAborted(new Promise((resolve) => setTimeout(resolve, ms).unref()), signal);
}

/** The promise, or the signal's reason as soon as it fires (the promise goes on, unobserved). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** A transport failure in words that name the option at play, with the low-level code for searching. */
function describeFailure(error: unknown, timeoutMs: number): string {
  const code = (error as { code?: string })?.code ?? (error as Error)?.name ?? 'error';
  const seconds = `${timeoutMs / 1000} s`;
  const words: Record<string, string> = {
    UND_ERR_CONNECT_TIMEOUT: `no connection within http_connect_timeout (${seconds})`,
    UND_ERR_HEADERS_TIMEOUT: `connected, but no answer within http_connect_timeout (${seconds})`,
    UND_ERR_BODY_TIMEOUT: `the answer stalled for http_connect_timeout (${seconds})`,
    TimeoutError: `no complete answer within twice http_connect_timeout (${(2 * timeoutMs) / 1000} s)`,
    ECONNREFUSED: 'connection refused (nothing listens there)',
    ENOTFOUND: 'host name not found (DNS)',
    EAI_AGAIN: 'host name lookup failed (DNS)',
    ECONNRESET: 'connection reset by the server',
    UND_ERR_SOCKET: 'connection closed by the server',
  };
  return `${words[code] ?? 'transport failure'} [${code}]`;
}

/**
 * A failure that may be a TLS handshake against a plain-HTTP port: a wrong record, or the connection closed or
 * reset (uwsgi reads a ClientHello, waits for its socket timeout, then resets). speaksPlainHttp() decides.
 */
function isTlsHandshakeFailure(error: unknown): boolean {
  const code = (error as { code?: string })?.code ?? '';
  const message = (error as Error)?.message ?? '';
  return /^ERR_SSL_(WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST|UNEXPECTED_EOF_WHILE_READING)$/.test(code) || code === 'EPROTO' || code === 'ECONNRESET' || /before secure TLS connection/.test(message);
}

/** Whether host:port of `url` answers a plain HTTP request with an HTTP status line. */
function speaksPlainHttp(url: URL, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 443) });
    const timer = setTimeout(() => done(false), timeoutMs);
    function done(result: boolean) {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    }
    socket.once('connect', () => socket.write(`HEAD / HTTP/1.0\r\nHost: ${url.host}\r\n\r\n`));
    socket.once('data', (chunk: Buffer) => done(chunk.subarray(0, 5).toString('latin1') === 'HTTP/'));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

function plainHttpError(what: string, url: URL, label: string): IdentityServerError {
  return new IdentityServerError(
    'ERR_IDENTITY_TLS',
    `${what} is https:// but ${url.host} speaks plain HTTP (the TLS handshake failed and a plain HTTP request got an HTTP answer); ${label} not sent: use http:// for that port, or the port where the identity server serves TLS`,
  );
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
