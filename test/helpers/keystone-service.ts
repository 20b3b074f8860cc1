import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import { AuthProtocol } from '../../src/index.js';
import { KeystoneApi, realKeystone } from './keystone-api.js';
import { CapturingLogger, tempDir } from './app.js';

/** What useKeystoneService gives a test file (keystone and api are set by its `before` hook). */
export interface KeystoneService {
  /** Unique to this run: the suite's Keystone is shared by the files of a run. */
  suffix: string;
  /** The service user in the default domain (its own project), which the middleware authenticates as. */
  service: { name: string; password: string; project: string };
  /** A user with role member on its own project. */
  user: { name: string; password: string; project: string };
  keystone: Awaited<ReturnType<typeof realKeystone>>;
  api: KeystoneApi;
  /** Run in reverse order after the file's tests (the Keystone's own stop included). */
  stops: (() => Promise<void>)[];
  /** The [keystone_authtoken] section of a service with a password for that service user, found by the catalog. */
  section(extra?: Record<string, string>): Record<string, string>;
  /** An AuthProtocol on section() (stopped after the file's tests), with generous timeouts and no retries. */
  protocolFor(extra?: Record<string, unknown>): AuthProtocol;
  /** A fresh project-scoped token of the user. */
  userToken(): Promise<string>;
}

/**
 * The real Keystone of the run, with a service user and a member user named after `prefix` and a random suffix.
 * Registers its before/after hooks: call once, at the top level of a test file.
 */
export function useKeystoneService(prefix: string): KeystoneService {
  const suffix = randomBytes(3).toString('hex');
  const fixture: KeystoneService = {
    suffix,
    service: { name: `${prefix}-svc-${suffix}`, password: `${prefix}-svc-pw`, project: `${prefix}-svc-p-${suffix}` },
    user: { name: `${prefix}-user-${suffix}`, password: `${prefix}-user-pw`, project: `${prefix}-p-${suffix}` },
    keystone: undefined as unknown as KeystoneService['keystone'],
    api: undefined as unknown as KeystoneApi,
    stops: [],
    section(extra = {}) {
      return {
        www_authenticate_uri: 'http://keystone.example.test:5000/',
        auth_type: 'password',
        auth_url: `${fixture.keystone.url}/v3`,
        username: fixture.service.name,
        password: fixture.service.password,
        user_domain_name: 'Default',
        project_name: fixture.service.project,
        project_domain_name: 'Default',
        interface: 'public',
        service_token_roles_required: 'true',
        ...extra,
      };
    },
    protocolFor(extra = {}) {
      // Generous timeouts: a loaded test machine's Keystone can take over 10 s to answer, and timeouts are not under test here.
      const protocol = new AuthProtocol({ ...fixture.section(), signing_dir: tempDir(), logger: new CapturingLogger(), http_request_max_retries: 0, http_connect_timeout: 60, validationDeadline: 120, ...extra });
      fixture.stops.push(() => protocol.close());
      return protocol;
    },
    async userToken() {
      const { user, api } = fixture;
      return (await api.authenticate({ user: { name: user.name, domain: { id: 'default' }, password: user.password } }, { project: { name: user.project, domain: { id: 'default' } } })).token;
    },
  };
  before(async () => {
    const keystone = await realKeystone();
    fixture.keystone = keystone;
    fixture.stops.push(() => keystone.stop());
    const api = new KeystoneApi(keystone.url, keystone.adminPassword);
    fixture.api = api;
    await api.login();
    await api.serviceUser(fixture.service.name, fixture.service.password, fixture.service.project);
    const project = await api.project(fixture.user.project);
    const created = await api.user(fixture.user.name, fixture.user.password);
    await api.grant((await api.role('member')).id, created.id, { project: project.id });
  });
  after(async () => {
    for (const stop of fixture.stops.reverse()) await stop().catch(() => {});
  });
  return fixture;
}
