import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type AuthTokenOptions } from '../../src/index.js';
import { KeystoneApi, realKeystone } from './keystone-api.js';
import { CapturingLogger, tempDir } from './app.js';
import { startFramework, type FrameworkApp, type FrameworkName } from './framework-apps.js';

/**
 * What the hostile-request tests need from the real Keystone: a compute service whose catalog name is outside
 * Latin-1, a service user, a user and project and role named outside Latin-1, an application credential of that
 * user restricted to `POST /v2/servers/*\/action`, and a [keystone_authtoken] file for service_type compute.
 */
export const UNICODE = { user: 'Zoë 名 😀', project: 'Prøjekt 東京 🚀', role: 'rôle-名', service: '计算 ✨ Nova' };

export interface HostileKeystone {
  tokens: { unicode: string; ruled: string; service: string };
  /** One app per framework and options (each app authenticates its service user once). */
  app(name: FrameworkName, extra?: Partial<AuthTokenOptions>): Promise<FrameworkApp>;
  stop(): Promise<void>;
}

export async function hostileKeystone(): Promise<HostileKeystone> {
  const SERVICE_PASSWORD = 'hostile-svc-pw';
  const keystone = await realKeystone();
  const api = new KeystoneApi(keystone.url, keystone.adminPassword);
  await api.login();
  const existing = await api.call('GET', '/v3/services?type=compute');
  if (existing.body.services.length === 0) {
    const compute = await api.call('POST', '/v3/services', { service: { type: 'compute', name: UNICODE.service, enabled: true } });
    for (const iface of ['public', 'internal']) {
      await api.call('POST', '/v3/endpoints', { endpoint: { service_id: compute.body.service.id, interface: iface, url: 'http://127.0.0.1:8774/v2.1', region_id: 'RegionOne' } });
    }
  } else {
    await api.update(`/v3/services/${existing.body.services[0].id}`, 'service', { name: UNICODE.service });
  }
  const suffix = Math.random().toString(36).slice(2, 8);
  await api.serviceUser(`hostile-svc-${suffix}`, SERVICE_PASSWORD, `hostile-svc-project-${suffix}`);
  const member = await api.role('member');
  const unicodeRole = await api.role(UNICODE.role);
  const project = await api.project(`${UNICODE.project} ${suffix}`);
  const user = await api.user(`${UNICODE.user} ${suffix}`, 'zoe-pw');
  await api.grant(member.id, user.id, { project: project.id });
  await api.grant(unicodeRole.id, user.id, { project: project.id });
  const scoped = await api.authenticate({ user: { name: `${UNICODE.user} ${suffix}`, domain: { id: 'default' }, password: 'zoe-pw' } }, { project: { name: `${UNICODE.project} ${suffix}`, domain: { id: 'default' } } });
  const ruled = await api.applicationCredential(user.id, scoped.token, `actions-only-${suffix}`, { access_rules: [{ service: 'compute', method: 'POST', path: '/v2/servers/*/action' }] });
  const tokens = {
    unicode: scoped.token,
    ruled: (await api.authenticate({ methods: ['application_credential'], application_credential: { id: ruled.id, secret: ruled.secret } })).token,
    service: (await api.authenticate({ user: { name: `hostile-svc-${suffix}`, domain: { id: 'default' }, password: SERVICE_PASSWORD } }, { project: { name: `hostile-svc-project-${suffix}`, domain: { id: 'default' } } })).token,
  };
  const configPath = join(tempDir('kat-hostile-'), 'service.conf');
  writeFileSync(configPath, ['[keystone_authtoken]', `auth_url = ${keystone.url}/v3`, 'auth_type = password', `username = hostile-svc-${suffix}`,
    `password = ${SERVICE_PASSWORD}`, 'user_domain_id = default', `project_name = hostile-svc-project-${suffix}`, 'project_domain_id = default',
    'region_name = RegionOne', 'interface = public', 'service_type = compute', 'www_authenticate_uri = http://keystone.example.test:5000/', ''].join('\n'));
  const apps = new Map<string, Promise<FrameworkApp>>();
  return {
    tokens,
    app(name, extra = {}) {
      const key = `${name} ${JSON.stringify(extra)}`;
      if (!apps.has(key)) apps.set(key, startFramework(name, { ...loadConfig(configPath), logger: new CapturingLogger(), http_request_max_retries: 0, http_connect_timeout: 60, ...extra }));
      return apps.get(key)!;
    },
    async stop() {
      for (const app of apps.values()) await (await app).close().catch(() => {});
      await keystone.stop();
    },
  };
}
