/**
 * The daemon's own log file (`--log-file`), rotated by size: when the file would grow past
 * `maxBytes` it becomes `<file>.1`, the older ones shift up to `<file>.<maxFiles>`, and the
 * oldest is dropped. Lines are written synchronously (like stderr), so the last lines before a
 * crash are on disk. A file that cannot be written never takes the daemon down: the error is
 * reported once and the daemon keeps logging to stderr.
 */
import fs from 'node:fs';

export interface LogFileOptions {
  maxBytes: number;
  /** Rotated files kept besides the current one. */
  maxFiles: number;
  /** The file's mode and group (the socket's group, so who may use the engine may read its log). */
  mode?: number;
  gid?: number;
  /** Called once if the file cannot be written any more. */
  onError?: (err: Error) => void;
}

export class RotatingLogFile {
  private fd: number | undefined;
  private size = 0;
  private failed = false;

  constructor(
    readonly file: string,
    private readonly opts: LogFileOptions,
  ) {
    this.open();
  }

  write(line: string): void {
    if (this.fd === undefined) return;
    const bytes = Buffer.byteLength(line);
    try {
      if (this.size > 0 && this.size + bytes > this.opts.maxBytes) this.rotate();
      if (this.fd === undefined) return;
      fs.writeSync(this.fd, line);
      this.size += bytes;
    } catch (err) {
      this.fail(err);
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): void {
    try {
      this.fd = fs.openSync(this.file, 'a', this.opts.mode ?? 0o640);
      const st = fs.fstatSync(this.fd);
      this.size = st.size;
      if (this.opts.gid !== undefined && st.gid !== this.opts.gid) fs.fchownSync(this.fd, st.uid, this.opts.gid);
      if (this.opts.mode !== undefined && (st.mode & 0o777) !== this.opts.mode) fs.fchmodSync(this.fd, this.opts.mode);
      if (this.size > this.opts.maxBytes) this.rotate();
    } catch (err) {
      this.fail(err);
    }
  }

  private rotate(): void {
    this.close();
    const keep = Math.max(0, this.opts.maxFiles);
    if (keep === 0) {
      fs.rmSync(this.file, { force: true });
    } else {
      fs.rmSync(`${this.file}.${keep}`, { force: true });
      for (let i = keep - 1; i >= 1; i--) {
        if (fs.existsSync(`${this.file}.${i}`)) fs.renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
      }
      fs.renameSync(this.file, `${this.file}.1`);
    }
    this.size = 0;
    this.open();
  }

  private fail(err: unknown): void {
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already unusable
      }
    }
    this.fd = undefined;
    if (this.failed) return;
    this.failed = true;
    this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
  }
}
