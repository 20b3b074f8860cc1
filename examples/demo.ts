// npm start: an embedded identity server on 127.0.0.1 and an example API protected by keystone-authtoken,
// configured as today's [keystone_authtoken] sections are (auth_type password, auth_url, no identity_uri).
// Prints ready-to-paste curl lines: today's tokens first (Fernet, JWS, validated online), PKI and PKIZ beside
// them (verified in-process), a revoked token and no token; stays up until Ctrl-C.
import express from 'express';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { authToken } from 'keystone-authtoken';
import { startIdentityServer } from 'keystone-authtoken/testing';

const port = Number(process.env.PORT ?? 0);
const signingDir = process.env.SIGNING_DIR ?? join(process.cwd(), '.demo-signing-dir');
mkdirSync(signingDir, { recursive: true, mode: 0o700 });

const idp = await startIdentityServer();
const auth = authToken({
  ...idp.serviceCredentials, // auth_type password, auth_url, username, password, user_domain_name, project_name, ...
  www_authenticate_uri: `${idp.url}/`,
  signing_dir: signingDir,
  revocation_cache_time: 10,
  logger: {
    debug() {},
    info(object, message) { console.log(`[auth] ${message ?? ''} ${JSON.stringify(object)}`); },
    warn(object, message) { console.log(`[auth] warning: ${message ?? ''} ${JSON.stringify(object)}`); },
    error(object, message) { console.log(`[auth] error: ${message ?? ''} ${JSON.stringify(object)}`); },
  },
});

const app = express();
app.use(auth);
app.get('/v1/things', (req, res) => {
  res.json({
    message: `hello ${req.keystone?.user.name}`,
    headers: Object.fromEntries(Object.entries(req.headers).filter(([name]) => name.startsWith('x-') && name !== 'x-auth-token' && name !== 'x-service-catalog')),
    keystone: { user: req.keystone?.user, project: req.keystone?.project, roles: req.keystone?.roles, expiresAt: req.keystone?.expiresAt },
  });
});
const server = app.listen(port, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/things`;

const fernet = await idp.issueToken({ user: 'alice', project: 'demo', roles: ['member', 'reader'], format: 'fernet' });
const jws = await idp.issueToken({ user: 'carol', project: 'demo', roles: ['reader'], format: 'jws' });
const pki = await idp.issueToken({ user: 'dave', project: 'demo', roles: ['member'], format: 'pki' });
const pkiz = await idp.issueToken({ user: 'bob', project: 'demo', roles: ['admin'], format: 'pkiz' });
const revoked = await idp.issueToken({ user: 'mallory', project: 'demo', roles: ['member'], format: 'fernet' });
idp.revoke(revoked);

console.log(`
keystone-authtoken demo
  identity server : ${idp.url}   (auth_url ${idp.serviceCredentials.auth_url}; its own Fernet key, JWS key and test PKI)
  example API     : ${api}   (signing_dir ${signingDir}, for PKI tokens)

Today's Keystone: a Fernet token (200, validated online; the API echoes the identity headers it saw):
curl -s -H 'X-Auth-Token: ${fernet}' ${api}

A JWS token (ES256, validated online; 200):
curl -s -H 'X-Auth-Token: ${jws}' ${api}

The PKI era: a PKI token (verified in-process; 200):
curl -s -H 'X-Auth-Token: ${pki}' ${api}

A PKIZ token (200):
curl -s -H 'X-Auth-Token: ${pkiz}' ${api}

A revoked Fernet token (401):
curl -si -H 'X-Auth-Token: ${revoked}' ${api}

No token (401 with WWW-Authenticate):
curl -si ${api}

Press Ctrl-C to stop.`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await auth.close();
  await idp.close();
  console.log('stopped');
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
