/** Types of keystone.mjs (plain JavaScript, so that scripts/run-tests.mjs can import it without tsx). */
export const ADMIN_PASSWORD: string;
export function keystoneMissing(): string | undefined;
export interface RunningKeystone {
  url: string;
  port: number;
  dir: string;
  pid: number | undefined;
  adminPassword: string;
  stop(): Promise<void>;
}
export function startKeystone(options?: { provider?: 'fernet' | 'jws' }): Promise<RunningKeystone>;
export function keystoneEnv(keystone: RunningKeystone): Record<string, string>;
