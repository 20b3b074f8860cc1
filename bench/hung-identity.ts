// Time to a 503 for an uncached online token when the identity server misbehaves, with the default options
// (http_connect_timeout 10 s, http_request_max_retries 3, validationDeadline 15 s). Figures, not assertions.
// Run: node --import tsx bench/hung-identity.ts
import { createServer as createHttp } from 'node:http';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { AuthProtocol } from '../src/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
async function listen(server: ReturnType<typeof createServer> | ReturnType<typeof createHttp>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}
async function timeTo503(identityUri: string): Promise<string> {
  const protocol = new AuthProtocol({ identity_uri: identityUri, admin_token: 'service', auth_version: 'v3', www_authenticate_uri: 'http://k/', logger: quiet });
  const start = performance.now();
  const decision = await protocol.validate({ 'x-auth-token': 'f'.repeat(180) });
  const ms = performance.now() - start;
  await protocol.close();
  return `${(ms / 1000).toFixed(2)} s, ${decision.status} ${decision.status !== 'confirmed' ? decision.error.code : ''}`;
}
const sockets = new Set<Socket>();
// Accepts and never answers.
const hung = createServer((socket) => { sockets.add(socket); socket.on('data', () => {}); socket.on('error', () => {}); });
// uwsgi's way: answers plain HTTP; given a TLS ClientHello, reads, says nothing, resets after its 4 s socket timeout.
const uwsgiLike = createServer((socket) => {
  sockets.add(socket);
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => {
    if (/^[A-Z]+ /.test(chunk.toString('latin1', 0, 8))) socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n');
  });
  setTimeout(() => socket.resetAndDestroy(), 4000).unref();
});
// A plain HTTP server, reached with https://.
const plain = createHttp((_req, res) => res.end('{}'));
const [hungPort, uwsgiPort, plainPort] = [await listen(hung), await listen(uwsgiLike), await listen(plain)];
console.log(`hung identity server (accepts, never answers): ${await timeTo503(`http://127.0.0.1:${hungPort}`)}`);
console.log(`https:// to a plain HTTP server that answers the handshake: ${await timeTo503(`https://127.0.0.1:${plainPort}`)}`);
console.log(`https:// to a plain HTTP server that waits 4 s then resets (uwsgi): ${await timeTo503(`https://127.0.0.1:${uwsgiPort}`)}`);
for (const socket of sockets) socket.destroy();
hung.close(); uwsgiLike.close(); plain.close();
