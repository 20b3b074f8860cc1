import { constants, mkdtempSync } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { closeSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, KeystoneAuthError } from '../errors.js';
import type { Logger } from '../logger.js';
import { directoryProblems, fileProblem } from './trust.js';

export const SIGNING_CERT_FILE = 'signing_cert.pem';
export const CA_CERT_FILE = 'cacert.pem';
export const REVOKED_FILE = 'revoked.pem';

/** A file read from the signing directory, with its modification time. */
export interface StoredFile {
  bytes: Buffer;
  /** The bytes as UTF-8 text. */
  readonly text: string;
  mtimeMs: number;
}

/** A failure to write into signing_dir (read-only, full disk, permissions). The in-memory copy still serves. */
export class SigningDirWriteError extends KeystoneAuthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SIGNING_DIR', message, { ...options, status: 500 });
  }
}

export interface SigningDirOptions {
  /**
   * Accept a signing_dir that another user owns or can write, and files in it that are symbolic links, owned by
   * another user or writable by others: each refusal becomes a warning. For setups where another trusted account
   * manages the directory; whoever can write there can make their own tokens valid.
   */
  allowInsecure?: boolean;
}

/**
 * signing_dir: where signing_cert.pem, cacert.pem and revoked.pem live. Created with mode 0700 when absent;
 * files written atomically (exclusive temporary file in the same directory, fsync, rename, mode 0600).
 * Trusted only when no one else can write it (see trust.ts); a file in it is read only when it is a regular
 * file of this user's that no one else can write, never through a symbolic link: otherwise it is fetched again.
 */
export class SigningDir {
  readonly path: string;
  readonly temporary: boolean;
  private readonly uid = process.getuid?.();

  private constructor(
    path: string,
    temporary: boolean,
    private readonly logger: Logger,
    private readonly allowInsecure: boolean,
  ) {
    this.path = path;
    this.temporary = temporary;
  }

  /**
   * Opens (creating if needed) the directory. Not creatable or not writable: ConfigError(ERR_SIGNING_DIR).
   * Owned by another user, or writable by another user (itself or a directory above it): ConfigError
   * (ERR_SIGNING_DIR_UNSAFE) naming the fix, unless `allowInsecure` (then a warning).
   */
  static open(path: string | undefined, logger: Logger, options: SigningDirOptions = {}): SigningDir {
    const allowInsecure = options.allowInsecure ?? false;
    if (!path) return new SigningDir(mkdtempSync(join(tmpdir(), 'keystone-signing-')), true, logger, allowInsecure);
    try {
      mkdirSync(path, { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw new ConfigError('ERR_SIGNING_DIR', `signing_dir ${path} cannot be created (${(cause as NodeJS.ErrnoException).code}); create it for the service user: install -d -m 0700 -o <user> ${path}`, { cause });
    }
    const info = statSync(path);
    if (!info.isDirectory()) throw new ConfigError('ERR_SIGNING_DIR', `signing_dir ${path} is not a directory`);
    const probe = join(path, `.write-test-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      closeSync(openSync(probe, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
      unlinkSync(probe);
    } catch (cause) {
      throw new ConfigError(
        'ERR_SIGNING_DIR',
        `signing_dir ${path} is not writable by this process (uid ${process.getuid?.() ?? '?'}): ${(cause as NodeJS.ErrnoException).code}; fix: chown <service user> ${path} && chmod 0700 ${path}${process.platform === 'linux' ? '; with SELinux enforcing also: restorecon -R ' + path : ''}`,
        { cause },
      );
    }
    const uid = process.getuid?.();
    const problems = uid === undefined ? [] : directoryProblems(path, uid);
    if (problems.length > 0) {
      const fix = `fix: chown ${uid} ${path} && chmod 0700 ${path} (and no directory above it writable by others), or set allowInsecureSigningDir for a directory another trusted account manages`;
      const message = `signing_dir cannot be trusted: ${problems.join('; ')}. Whoever can write there can plant a signing certificate and make their own tokens valid`;
      if (!allowInsecure) throw new ConfigError('ERR_SIGNING_DIR_UNSAFE', `${message}; ${fix}`);
      logger.warn({ signingDir: path, problems, option: 'allowInsecureSigningDir' }, `${message}; used anyway because allowInsecureSigningDir is set`);
    }
    return new SigningDir(path, false, logger, allowInsecure);
  }

  file(name: string): string {
    return join(this.path, name);
  }

  /**
   * Reads a file, or undefined when it is absent, unreadable or not to be trusted (a symbolic link, not a regular
   * file, another user's, writable by others): it will be fetched again, and the warning says why.
   */
  async read(name: string): Promise<StoredFile | undefined> {
    const path = this.file(name);
    let handle: FileHandle;
    try {
      // O_NOFOLLOW: a symbolic link is refused, not followed; O_NONBLOCK: a FIFO planted there cannot block the read.
      handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | (this.allowInsecure ? 0 : constants.O_NOFOLLOW));
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') this.distrust(name, 'a symbolic link');
      else if (code !== 'ENOENT') this.logger.warn({ file: path, code }, `cannot read ${path} (${code}); fetching it from the identity server instead`);
      return undefined;
    }
    try {
      const info = await handle.stat();
      const problem = fileProblem(info, this.uid);
      if (problem && (!this.allowInsecure || !info.isFile())) {
        this.distrust(name, problem);
        return undefined;
      }
      if (problem) this.logger.warn({ file: path, problem, option: 'allowInsecureSigningDir' }, `${path} is ${problem}; used because allowInsecureSigningDir is set`);
      const bytes = await handle.readFile();
      return {
        bytes,
        mtimeMs: info.mtimeMs,
        get text() {
          return bytes.toString('utf8');
        },
      };
    } catch (cause) {
      this.logger.warn({ file: path, code: (cause as NodeJS.ErrnoException).code }, `cannot read ${path}; fetching it from the identity server instead`);
      return undefined;
    } finally {
      await handle.close().catch(() => {});
    }
  }

  private distrust(name: string, problem: string): void {
    this.logger.warn(
      { file: this.file(name), problem },
      `${this.file(name)} is ${problem}: not trusted (someone else may have put it there); fetching it from the identity server instead, and replacing it`,
    );
  }

  /**
   * Writes atomically: readers see the old file or the new one, never half of one. On failure (read-only,
   * full disk) nothing is left behind and SigningDirWriteError is thrown. With `keep`, the new file replaces the
   * old one only when `keep` resolves true (it is awaited once the new bytes are written, so that the writing runs
   * beside whatever decides); otherwise the old file stays as it is. True when the file was replaced.
   */
  async write(name: string, text: string | Uint8Array | Iterable<string | Uint8Array>, keep?: Promise<boolean>): Promise<boolean> {
    return this.writeWith(name, async (handle) => {
      if (typeof text === 'string' || text instanceof Uint8Array) await handle.writeFile(text);
      else for (const piece of text) await handle.writeFile(piece); // each from the current position, written whole
      return keep ? keep.catch(() => false) : true;
    });
  }

  /**
   * Writes atomically what `produce` writes into the open temporary file (through the handle, or its `fd` from
   * another thread: the handle is closed only after `produce` settles). `produce` resolving false abandons the
   * write (the file stays as it was) and makes this resolve false. Failures as write().
   */
  async writeWith(name: string, produce: (handle: FileHandle) => Promise<boolean>): Promise<boolean> {
    try {
      await mkdir(this.path, { recursive: true, mode: 0o700 }); // deleted while running: recreate
    } catch {
      // the open below reports the failure
    }
    const target = this.file(name);
    const temporary = join(this.path, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    let handle;
    try {
      handle = await open(temporary, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
      if (!(await produce(handle))) {
        await handle.close();
        handle = undefined;
        await rm(temporary, { force: true });
        return false;
      }
      await handle.sync();
      await handle.close();
      handle = undefined;
      await rename(temporary, target);
      return true;
    } catch (cause) {
      await handle?.close().catch(() => {});
      await rm(temporary, { force: true }).catch(() => {});
      throw new SigningDirWriteError(`cannot write ${target}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message ?? cause}; the certificates stay in memory, but a restart will fetch them again`, { cause });
    }
  }

  /**
   * Marks a file as written now without rewriting it (its modification time), when what would be written is
   * what it holds: false when it cannot be (absent, a symbolic link, not ours to trust), and it should be written.
   */
  async touch(name: string): Promise<boolean> {
    let handle: FileHandle | undefined;
    try {
      handle = await open(this.file(name), constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
      const info = await handle.stat();
      if (fileProblem(info, this.uid)) return false;
      const now = new Date();
      await handle.utimes(now, now);
      return true;
    } catch {
      return false;
    } finally {
      await handle?.close().catch(() => {});
    }
  }

  /** Removes a temporary directory made by open(undefined). */
  async dispose(): Promise<void> {
    if (this.temporary) await rm(this.path, { recursive: true, force: true }).catch(() => {});
  }
}
