// One app of the HTTP benchmark in its own process (so that apps share neither JIT feedback nor heap):
// `node --import tsx bench/http-app.ts <bare|noop|md5|guarded|miss|floor|jwt>` with its settings in HTTP_APP_CONFIG. Prints
// {"url": …} once listening; answers "cpu" messages with this process's CPU time (µs).
import express from 'express';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { expressjwt } from 'express-jwt';
import { authToken, type Logger } from '../src/index.js';
import { floorMiddleware } from './floor.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const config = JSON.parse(process.env.HTTP_APP_CONFIG ?? '{}') as { identity_uri: string; admin_user: string; admin_password: string; admin_tenant_name: string; jwtPublicKey: string };
const kind = process.argv[2];

const handler = (req: express.Request, res: express.Response) => {
  res.json({ user: req.headers['x-user-id'] ?? null, ok: true });
};
const app = express();
if (kind === 'noop') app.use((_req, _res, next) => next());
const credentials = { identity_uri: config.identity_uri, admin_user: config.admin_user, admin_password: config.admin_password, admin_tenant_name: config.admin_tenant_name, logger: quiet };
if (kind === 'guarded') app.use(authToken(credentials));
// Every request a cache miss: the token verified, its body read and checked against the revocation list each time.
if (kind === 'miss') app.use(authToken({ ...credentials, token_cache_time: -1 }));
// The cost any keystone_authtoken implementation pays on a cache hit: the MD5 of the token, the cache key.
if (kind === 'md5') app.use((req, _res, next) => {
  createHash('md5').update(String(req.headers['x-auth-token'])).digest('hex');
  next();
});
// The least any PKI validator with a revocation list does per uncached token (see bench/floor.ts).
if (kind === 'floor') app.use(floorMiddleware(config.jwtPublicKey));
if (kind === 'jwt') app.use(expressjwt({ secret: config.jwtPublicKey, algorithms: ['RS256'] }));
app.get('/v1/things', handler);

const server = app.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/things` }));
});
process.on('message', (message) => {
  if (message === 'cpu') {
    const used = process.cpuUsage();
    process.send!({ cpu: used.user + used.system });
  }
});
process.on('disconnect', () => process.exit(0));
