import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect, createSecureContext, DEFAULT_CIPHERS, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { ConfigError } from '../errors.js';
import type { MemcacheTlsOptions } from '../options.js';

/** What memcached's TLS needs from memcache_tls_*, read once: CA, client certificate and key, ciphers. */
export interface MemcachedTlsContext {
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  ciphers: string | undefined;
}

/**
 * Reads the memcache_tls_* files (at start: a missing or unreadable file is a ConfigError then, not a silent miss
 * on every request). As keystonemiddleware/oslo.cache: the CA file verifies the server (the system CAs without
 * it), the key defaults to the certificate file, the cipher list is OpenSSL's syntax.
 */
export function loadMemcachedTls(options: MemcacheTlsOptions): MemcachedTlsContext {
  const read = (option: string, path: string | undefined) => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (error) {
      throw new ConfigError('ERR_CONFIG', `option ${option}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  };
  if (options.keyfile !== undefined && options.certfile === undefined) throw new ConfigError('ERR_CONFIG', 'option memcache_tls_keyfile is set without memcache_tls_certfile');
  const cert = read('memcache_tls_certfile', options.certfile);
  const context = {
    ca: read('memcache_tls_cafile', options.cafile),
    cert,
    key: options.keyfile !== undefined ? read('memcache_tls_keyfile', options.keyfile) : cert,
    ciphers: withTls13Suites(options.ciphers),
  };
  try {
    // A CA file without a certificate, a key that does not match, a cipher list OpenSSL matches nothing in.
    createSecureContext({ ca: context.ca, cert: context.cert, key: context.cert ? context.key : undefined, ciphers: context.ciphers });
  } catch (error) {
    throw new ConfigError('ERR_CONFIG', `options memcache_tls_*: ${(error as Error).message}`);
  }
  return context;
}

/**
 * memcache_tls_allowed_ciphers is an OpenSSL cipher list, which governs TLS 1.2 and below (Python's
 * SSLContext.set_ciphers leaves the TLS 1.3 suites alone). Node reads TLS 1.3 suites (TLS_*) from the same option
 * and would turn TLS 1.3 off without them: Node's default TLS 1.3 suites are added when the list names none.
 */
function withTls13Suites(ciphers: string | undefined): string | undefined {
  if (ciphers === undefined || /(^|:)TLS_/.test(ciphers)) return ciphers;
  const suites = DEFAULT_CIPHERS.split(':').filter((name) => name.startsWith('TLS_'));
  return [...suites, ciphers].join(':');
}

/** Opens a TLS connection to one memcached server: certificate and host name verified, never plain TCP. */
export function connectMemcachedTls(host: string, port: number, context: MemcachedTlsContext, onSecure: () => void): TLSSocket {
  const options: ConnectionOptions = {
    host,
    port,
    ca: context.ca,
    cert: context.cert,
    key: context.cert ? context.key : undefined,
    ciphers: context.ciphers,
    rejectUnauthorized: true,
    // SNI names a host, never an address (RFC 6066); the certificate is still checked against the address.
    servername: isIP(host) === 0 ? host : undefined,
  };
  return connect(options, onSecure);
}

/** memjs' Server, as far as the TLS socket below touches it (memjs has no types for it). */
interface MemjsServer {
  host: string;
  port: number;
  connected: boolean;
  timeoutSet: boolean;
  connectCallbacks: ((socket: TLSSocket) => void)[];
  options: { conntimeout: number; keepAlive: boolean; keepAliveDelay: number };
  _socket: TLSSocket | undefined;
  responseHandler(data: Buffer): void;
  error(error: Error): void;
  onConnect(go: (socket: TLSSocket) => void): void;
  sock(sasl: boolean, go: (socket: TLSSocket) => void): void;
}

/**
 * Makes one memjs server talk TLS: its `sock` (memjs 1.3's connection step, which opens a plain net socket) is
 * replaced by one that opens a TLS socket and otherwise does what memjs does (connection timeout, keep-alive,
 * the request queue and its errors stay memjs'). SASL is not used here (keystonemiddleware's memcache_sasl_*
 * are not supported). A TLS failure (unknown CA, wrong host, a server that does not speak TLS) reaches memjs as a
 * connection error: the request is a miss; nothing is ever sent in clear.
 */
export function useTls(server: MemjsServer, context: MemcachedTlsContext, onTlsError: (error: Error) => void): void {
  server.sock = function tlsSock(this: MemjsServer, sasl: boolean, go: (socket: TLSSocket) => void): void {
    if (this._socket === undefined) {
      this.connected = false;
      const socket = connectMemcachedTls(this.host, this.port, context, () => {
        if (this._socket !== socket) return;
        this.connected = true;
        socket.setTimeout(0);
        this.timeoutSet = false;
        go(socket);
        const waiting = this.connectCallbacks;
        this.connectCallbacks = [];
        for (const callback of waiting) callback(socket);
      });
      this._socket = socket;
      socket.on('data', (data: Buffer) => this.responseHandler(data));
      socket.on('error', (error: Error) => {
        if (!this.connected) onTlsError(error);
        this.error(error);
      });
      socket.on('close', () => {
        this.connected = false;
        if (this.timeoutSet) {
          socket.setTimeout(0);
          this.timeoutSet = false;
        }
        if (this._socket === socket) this._socket = undefined;
      });
      this.timeoutSet = true;
      socket.setTimeout(this.options.conntimeout * 1000, () => {
        this.timeoutSet = false;
        if (!this.connected) {
          socket.destroy();
          if (this._socket === socket) this._socket = undefined;
          this.error(new Error('TLS connection to memcached timed out'));
        }
      });
      socket.setKeepAlive(this.options.keepAlive, this.options.keepAliveDelay * 1000);
    } else if (!this.connected && !sasl) {
      this.onConnect(go);
    } else {
      go(this._socket);
    }
  };
}
