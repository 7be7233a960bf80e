/**
 * Working through open file descriptors (paths resolved once, never again by name): the
 * /proc/self/fd path of a name inside a directory fd, and reading a file fd in chunks.
 */
import fs from 'node:fs';
import { promisify } from 'node:util';

const fdRead = promisify(fs.read);
const READ_CHUNK = 256 * 1024;

/** The path that names `name` inside the directory `fd` holds (or the directory itself). */
export const at = (fd: number, name = ''): string => (name === '' ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);

/** A file descriptor's content from its current offset to the end, in chunks. */
export async function* readFd(fd: number): AsyncGenerator<Buffer> {
  for (;;) {
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    const { bytesRead } = await fdRead(fd, buf, 0, READ_CHUNK, null);
    if (bytesRead === 0) return;
    yield buf.subarray(0, bytesRead);
  }
}
