/**
 * Working through open file descriptors (a path is resolved once, never again by name): the
 * `/proc/self/fd/<fd>/<name>` path of a name inside a directory fd, which the kernel resolves
 * from that directory (openat(2) for Node, which has none) and which stays short however deep the
 * directory is; reading a file fd in chunks; errno-style errors.
 */
import fs, { constants as fsc } from 'node:fs';
import { promisify } from 'node:util';

export const fdOpen = promisify(fs.open);
export const fdClose = promisify(fs.close);
export const fdFstat = promisify(fs.fstat);
const fdRead = promisify(fs.read);
const READ_CHUNK = 256 * 1024;

export const DIR_NOFOLLOW = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW;

/** The path that names `name` inside the directory `fd` holds (or the directory itself). */
export const at = (fd: number, name = ''): string => (name === '' ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);

/** The same, for a child process: valid while this process keeps `fd` open. */
export const atFromChild = (fd: number, name = ''): string => (name === '' ? `/proc/${process.pid}/fd/${fd}` : `/proc/${process.pid}/fd/${fd}/${name}`);

export function closeFd(fd: number): Promise<void> {
  return fdClose(fd).catch(() => undefined);
}

export function errnoError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

export function isErrno(err: unknown, ...codes: string[]): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && codes.includes(code);
}

/** A file descriptor's content from its current offset to the end, in chunks. */
export async function* readFd(fd: number): AsyncGenerator<Buffer> {
  for (;;) {
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    const { bytesRead } = await fdRead(fd, buf, 0, READ_CHUNK, null);
    if (bytesRead === 0) return;
    yield buf.subarray(0, bytesRead);
  }
}
