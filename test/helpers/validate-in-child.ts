// Run as a separate process by the memcached tests: one middleware instance validates one token and reports.
import { AuthProtocol } from '../../src/index.js';
import { tempDir } from './app.js';

const [identityUri, memcached, token] = process.argv.slice(2) as [string, string, string];
const protocol = new AuthProtocol({
  identity_uri: identityUri,
  admin_user: 'admin', admin_password: 'secret', admin_tenant_name: 'service',
  memcached_servers: memcached,
  memcache_security_strategy: process.env.STRATEGY ?? 'None',
  memcache_secret_key: process.env.SECRET,
  signing_dir: tempDir('kat-child-'),
  logger: { debug() {}, info() {}, warn() {}, error() {} },
});
const decision = await protocol.validate({ 'x-auth-token': token });
console.log(JSON.stringify({ status: decision.status, user: decision.status === 'confirmed' ? decision.identity.user.id : null, stats: protocol.stats }));
await protocol.close();
