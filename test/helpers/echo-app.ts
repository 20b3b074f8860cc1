import express from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuthTokenMiddleware } from '../../src/index.js';

/**
 * An Express app behind `auth` on 127.0.0.1 that answers every request 200 with the request headers it saw
 * (`{ seen }`): what the middleware set or left. Its stop (server, then middleware) is pushed onto `stops`.
 * Returns its URL.
 */
export async function startEchoApp(auth: AuthTokenMiddleware, stops: (() => Promise<void>)[]): Promise<string> {
  const app = express();
  app.use(auth);
  app.use((req, res) => {
    const seen: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) seen[name] = String(value);
    res.json({ seen });
  });
  // Room for large tokens: Node's default header limit is 16 KB.
  const server: Server = await new Promise((resolve) => {
    const s = createServer({ maxHeaderSize: 64 * 1024 }, app).listen(0, '127.0.0.1', () => resolve(s));
  });
  stops.push(async () => {
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
    await auth.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
