import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { removeTree } from '../../hostfs/rooted.js';
import { mountPoints } from '../common/mounts.js';

/**
 * Removes a container's directory. Most are a handful of small files: removing them in-process
 * costs a fraction of spawning rm(1), which is what removeTree does. rm -rf --one-file-system
 * stays the way for the rest: a tree with a mount point inside (never crossed) and one deeper
 * than PATH_MAX (fs.rm walks full paths and fails with ENAMETOOLONG; rm does not).
 */
export async function removeContainerDir(dir: string): Promise<void> {
  const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
  let crossesMount = false;
  for (const m of await mountPoints()) {
    if (m === dir || m.startsWith(prefix)) {
      crossesMount = true;
      break;
    }
  }
  if (!crossesMount) {
    try {
      await fsp.rm(dir, { recursive: true, force: true, maxRetries: 0 });
      return;
    } catch {
      // ENAMETOOLONG, EBUSY, ...: what is left goes the slow way, which reports its own error.
    }
  }
  await removeTree(dir);
}
