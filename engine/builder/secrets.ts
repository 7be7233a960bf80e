/**
 * Build secrets for `RUN --mount=type=secret`. The classic build API has no secrets channel
 * (BuildKit has its session); Berth's is the `X-Berth-Build-Secrets` request header, which
 * `berth build --secret id=...,src=...` sends (a header, as Docker's own X-Registry-Config
 * carries credentials). Here the values live in memory for the length of one build, and are
 * written only to a private tmpfs mounted for that build under the exec root, from which each
 * RUN that asks for one gets it bind-mounted read-only. So a secret never touches the disk,
 * and never reaches a layer (a bind mount; its mount point is taken out of the layer), the
 * history or the cache key (both name the secret's id only), or the daemon's log.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { invalid, system } from '../common/errors.js';
import { runTool, unmount } from '../common/mounts.js';

export const SECRET_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** BuildKit's limit for one secret. */
export const MAX_SECRET_BYTES = 500 * 1024;

export class BuildSecrets {
  private dir?: string;
  private mounting?: Promise<string>;
  private readonly written = new Set<string>();

  constructor(
    private readonly values: ReadonlyMap<string, Buffer>,
    /** Where the build's tmpfs goes (under the daemon's exec root). */
    private readonly runRoot: string,
  ) {}

  has(id: string): boolean {
    return this.values.has(id);
  }

  get size(): number {
    return this.values.size;
  }

  private async mountDir(): Promise<string> {
    await fsp.mkdir(this.runRoot, { recursive: true, mode: 0o700 });
    const dir = path.join(this.runRoot, `secrets-${randomBytes(8).toString('hex')}`);
    await fsp.mkdir(dir, { mode: 0o700 });
    let total = 0;
    for (const v of this.values.values()) total += v.length + 4096;
    const r = await runTool('mount', ['-t', 'tmpfs', '-o', `size=${Math.max(total, 64 * 1024)},mode=0700,nosuid,nodev,noexec`, 'tmpfs', dir]);
    if (r.code !== 0) {
      await fsp.rmdir(dir).catch(() => undefined);
      throw system(`mounting a tmpfs for the build's secrets failed: ${r.stderr || `exit ${r.code}`}`);
    }
    this.dir = dir;
    return dir;
  }

  /** The file holding secret `id` (mode and owner as the mount asks), on the build's tmpfs. */
  async file(id: string, mode: number, uid: number, gid: number): Promise<string> {
    const value = this.values.get(id);
    if (value === undefined) throw invalid(`secret ${id} not found`);
    const dir = await (this.mounting ??= this.mountDir());
    // One file per distinct ownership, so two mounts of one secret can differ.
    const name = `${id}.${uid}.${gid}.${mode.toString(8)}`;
    const file = path.join(dir, name);
    if (!this.written.has(name)) {
      await fsp.writeFile(file, value, { mode: 0o600, flag: 'wx' });
      await fsp.chown(file, uid, gid);
      await fsp.chmod(file, mode);
      this.written.add(name);
    }
    return file;
  }

  /** Unmounts the tmpfs: the values are gone with it. */
  async close(): Promise<void> {
    const dir = this.dir;
    if (!dir) return;
    this.dir = undefined;
    await unmount(dir);
    await fsp.rmdir(dir).catch(() => undefined);
  }
}
