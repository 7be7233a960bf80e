import net from 'node:net';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { isErrno } from '../common/errors.js';

export class DataRootLockedError extends Error {}

/**
 * One daemon per data root. The lock is a Linux abstract unix socket named after
 * the data root's real path: the kernel releases it the instant the process dies
 * (even on kill -9), so there is never a stale lock to clean up. A pid file next
 * to the data makes the refusal message useful.
 */
export async function lockDataRoot(dataRoot: string): Promise<{ release(): Promise<void> }> {
  const real = await fsp.realpath(dataRoot);
  const name = '\0berthd-' + createHash('sha256').update(real).digest('hex').slice(0, 32);
  const pidFile = path.join(dataRoot, 'berthd.pid');
  const server = net.createServer((s) => s.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(name, () => resolve());
    });
  } catch (err) {
    if (isErrno(err, 'EADDRINUSE')) {
      const pid = (await fsp.readFile(pidFile, 'utf8').catch(() => '')).trim();
      throw new DataRootLockedError(
        `another berthd${pid ? ` (pid ${pid})` : ''} is already running with data root ${real}; ` +
          'stop it first or start this one with a different --data-root',
      );
    }
    throw err;
  }
  server.unref();
  await fsp.writeFile(pidFile, `${process.pid}\n`);
  return {
    release: async () => {
      await fsp.rm(pidFile, { force: true });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
