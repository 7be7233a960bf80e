import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { removeTree } from '../../hostfs/rooted.js';
import { digestHex, isDigest, type Digest } from '../common/digest.js';
import { isErrno } from '../common/errors.js';
import { atomicWriteJson, fsyncDir, readJsonIfExists } from '../common/fsutil.js';
import type { LayerInfo, LayerStore, PreparedLayer } from './types.js';

/**
 * Unpacked layers, one directory per chain ID, ready to be overlayfs lower dirs.
 *
 *   <root>/sha256/<chainid-hex>/diff        the layer's files (whiteouts in overlay form)
 *   <root>/sha256/<chainid-hex>/layer.json  LayerInfo; written before the directory is
 *                                           renamed into place, so a present directory
 *                                           is always a complete layer
 *   <root>/tmp/<random>/                    unpacks in flight; deleted at start-up
 *
 * Layer trees can be deeper than PATH_MAX (a commit of a container that made one): they are
 * removed with rm -rf (hostfs/rooted.ts), which is not limited by it.
 */
export class OverlayLayerStore implements LayerStore {
  private readonly layersDir: string;
  private readonly tmpDir: string;

  constructor(readonly root: string) {
    this.layersDir = path.join(root, 'sha256');
    this.tmpDir = path.join(root, 'tmp');
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.layersDir, { recursive: true, mode: 0o700 });
    await fsp.mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
  }

  private layerDir(chainId: Digest): string {
    return path.join(this.layersDir, digestHex(chainId));
  }

  diffDir(chainId: Digest): string {
    return path.join(this.layerDir(chainId), 'diff');
  }

  async has(chainId: Digest): Promise<boolean> {
    return (await this.get(chainId)) !== undefined;
  }

  async get(chainId: Digest): Promise<LayerInfo | undefined> {
    return readJsonIfExists<LayerInfo>(path.join(this.layerDir(chainId), 'layer.json'));
  }

  async prepare(): Promise<PreparedLayer> {
    const work = path.join(this.tmpDir, randomBytes(12).toString('hex'));
    const diff = path.join(work, 'diff');
    await fsp.mkdir(diff, { recursive: true, mode: 0o755 });
    let settled = false;
    const abort = async (): Promise<void> => {
      settled = true;
      await removeTree(work);
    };
    return {
      dir: diff,
      commit: async (info: LayerInfo): Promise<void> => {
        if (settled) throw new Error('prepared layer already settled');
        settled = true;
        await atomicWriteJson(path.join(work, 'layer.json'), info);
        try {
          await fsp.rename(work, this.layerDir(info.chainId));
        } catch (err) {
          // Another pull committed the same chain ID first: content is identical.
          if (isErrno(err, 'ENOTEMPTY') || isErrno(err, 'EEXIST')) {
            await removeTree(work);
            return;
          }
          throw err;
        }
        await fsyncDir(this.layersDir);
      },
      abort,
    };
  }

  async delete(chainId: Digest): Promise<void> {
    // Rename first so a crash mid-delete never leaves a half-deleted layer that
    // still looks complete.
    const dir = this.layerDir(chainId);
    const doomed = path.join(this.tmpDir, `rm-${digestHex(chainId)}-${randomBytes(4).toString('hex')}`);
    try {
      await fsp.rename(dir, doomed);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    await removeTree(doomed);
  }

  async list(): Promise<LayerInfo[]> {
    const out: LayerInfo[] = [];
    for (const name of await fsp.readdir(this.layersDir)) {
      const chainId = `sha256:${name}`;
      if (!isDigest(chainId)) continue;
      const info = await this.get(chainId);
      if (info) out.push(info);
    }
    return out;
  }

  async cleanup(): Promise<void> {
    for (const name of await fsp.readdir(this.tmpDir)) {
      await removeTree(path.join(this.tmpDir, name));
    }
    // A layer directory without layer.json cannot exist (it is written before the
    // rename), but a stray one from an older layout or manual meddling is removed.
    for (const name of await fsp.readdir(this.layersDir)) {
      const dir = path.join(this.layersDir, name);
      if (!isDigest(`sha256:${name}`) || !(await readJsonIfExists(path.join(dir, 'layer.json')))) {
        await removeTree(dir);
      }
    }
  }
}
