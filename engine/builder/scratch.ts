/**
 * Where builds keep their scratch files, and the start-up sweep of what a killed daemon's builds
 * left there. Kept apart from the builder so the daemon can sweep at start without loading the
 * builder itself (it is loaded on the first build).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { mountPoints, unmount } from '../common/mounts.js';

/** Contexts and scratch layers of running builds, under the builder's data directory. */
export const scratchRoot = (builderDir: string): string => path.join(builderDir, 'tmp');

/** Removes contexts, scratch layers, rw mounts and secret tmpfs left by builds of a killed daemon. */
export async function sweepBuildScratch(builderDir: string, runDir: string): Promise<void> {
  for (const root of [scratchRoot(builderDir), runDir]) {
    for (const mp of await mountPoints()) if (mp.startsWith(root + '/')) await unmount(mp).catch(() => undefined);
    await fsp.rm(root, { recursive: true, force: true });
  }
}
