import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';

/** The memcached binary, or undefined (the tests that need it say so and fail: .ci/run installs it). */
export function memcachedBinary(): string | undefined {
  for (const candidate of ['/usr/bin/memcached', '/usr/local/bin/memcached']) {
    if (spawnSync(candidate, ['-h'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** A real memcached on 127.0.0.1, started on a free port (or the given one), stoppable and restartable. */
export class Memcached {
  private process: ChildProcess | undefined;
  private constructor(readonly port: number, private readonly binary: string, private readonly extraArgs: string[] = []) {}

  /** `extraArgs`: more memcached arguments, e.g. TLS (-Z -o ssl_chain_cert=...,ssl_key=...) or more listeners. */
  static async start(port?: number, extraArgs: string[] = []): Promise<Memcached> {
    const binary = memcachedBinary();
    if (!binary) throw new Error('memcached is not installed (apt-get install -y memcached; .ci/run does it)');
    const server = new Memcached(port ?? (await freePort()), binary, extraArgs);
    await server.run();
    return server;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async run(): Promise<void> {
    this.process = spawn(this.binary, ['-l', '127.0.0.1', '-p', String(this.port), '-U', '0', '-m', '64', ...(process.getuid?.() === 0 ? ['-u', 'root'] : []), ...this.extraArgs], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (await accepting(this.port)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`memcached did not start on port ${this.port}`);
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGKILL');
    });
  }
}
