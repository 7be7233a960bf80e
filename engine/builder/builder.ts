/**
 * The classic builder behind POST /build: a Dockerfile and its context become an image.
 *
 * A build: extract the context (context.ts), parse (dockerfile.ts), then run the stages the
 * target needs (build-run.ts). Every step's result is a state in the build cache
 * (cache-store.ts), not an image: `docker images -a` shows only the final image, which is
 * recorded in the image db at the end from the last state (same config, same layers: nothing
 * is copied). The build cache is what `docker system df` counts and `docker builder prune`
 * reclaims (cache-usage.ts); `RUN --mount=type=cache` directories are part of it
 * (cache-mounts.ts). Output is Docker's, ending in aux {ID}, "Successfully built" and
 * "Successfully tagged"; with `q` only the ID is printed, and the step output held back is
 * sent only if the build fails (as dockerd does).
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { BuildCacheRecord } from '../../types/engine-api.js';
import { familiarString, parseReference, refString } from '../../common/reference.js';
import { shortId, type Digest } from '../common/digest.js';
import { invalid } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ImageCommitter } from '../images/commit.js';
import type { ImageService } from '../images/service.js';
import { formatBuildPlatform, hostBuildPlatform, parseBuildPlatform, platformArgs } from './build-args.js';
import { BuildRun, type BuildMessage, type BuildOptions, type RunDeps } from './build-run.js';
import { CacheMounts } from './cache-mounts.js';
import type { BuildCacheStore } from './cache-store.js';
import { CacheUsage, type CachePruneOptions } from './cache-usage.js';
import { openContext } from './context.js';
import { parseDockerfile } from './dockerfile.js';
import { BuildSecrets } from './secrets.js';
import { StepRunner, type StepContainers } from './run-step.js';
import { scratchRoot } from './scratch.js';

export { CommandFailed, type BuildMessage, type BuildOptions } from './build-run.js';

export interface BuilderDeps {
  images: ImageService;
  containers: StepContainers;
  committer: Pick<ImageCommitter, 'commit'>;
  /** The build cache, loaded (and registered with the image service) before start-up's garbage collection. */
  store: BuildCacheStore;
  pull: RunDeps['pull'];
  /** <data-root>/builder: the cache store, cache mounts and temporary contexts. */
  dir: string;
  /** <exec-root>/builder: the builds' secret tmpfs mounts. */
  runDir: string;
  log: Logger;
}

/** Most of the held-back output of a quiet build that is sent if it fails. */
const QUIET_BUFFER_BYTES = 1 << 20;

export class Builder {
  private readonly runner: StepRunner;
  private readonly cacheMounts: CacheMounts;
  private readonly usage: CacheUsage;
  /** States the builds in progress stand on (never pruned from under them). */
  private readonly active = new Map<Digest, number>();

  constructor(private readonly d: BuilderDeps) {
    this.runner = new StepRunner(d.containers, d.log);
    this.cacheMounts = new CacheMounts(path.join(d.dir, 'cache-mounts'), d.store);
    this.usage = new CacheUsage(d.store, d.images, this.cacheMounts, () => new Set(this.active.keys()));
  }

  private get tmpRoot(): string {
    return scratchRoot(this.d.dir);
  }

  /** GET /system/df's BuildCache. */
  diskUsage(): Promise<BuildCacheRecord[]> {
    return this.usage.list();
  }

  /** POST /build/prune. */
  prune(o: CachePruneOptions): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
    return this.usage.prune(o);
  }

  /** Runs a build to its end; resolves with the final image ID. */
  async build(context: Readable, o: BuildOptions): Promise<Digest> {
    const tags = o.tags.map((t) => {
      try {
        return parseReference(t);
      } catch (err) {
        throw invalid(`invalid tag "${t}": ${(err as Error).message}`);
      }
    });
    for (const t of tags) if (t.digest) throw invalid(`invalid tag "${familiarString(t)}": a tag cannot carry a digest`);
    const target = o.platform ? parseBuildPlatform(o.platform) : hostBuildPlatform();
    // A quiet build holds its output back and sends it only if the build fails.
    const held: BuildMessage[] = [];
    let heldBytes = 0;
    const opts: BuildOptions = o.quiet
      ? {
          ...o,
          quiet: false,
          progress: (m) => {
            if (m.aux !== undefined) return o.progress(m);
            held.push(m);
            heldBytes += m.stream?.length ?? 0;
            while (heldBytes > QUIET_BUFFER_BYTES && held.length > 1) heldBytes -= held.shift()?.stream?.length ?? 0;
          },
        }
      : o;
    const ctx = await openContext(context, this.tmpRoot, o.dockerfile, o.signal);
    // Made only when a step needs scratch space (a scratch layer, a rw bind): a cached build never does.
    const tmpDir = path.join(this.tmpRoot, `build-${randomBytes(8).toString('hex')}`);
    const secrets = new BuildSecrets(o.secrets, this.d.runDir);
    const used = new Set<Digest>();
    const deps: RunDeps = {
      images: this.d.images,
      runner: this.runner,
      committer: this.d.committer,
      store: this.d.store,
      cacheMounts: this.cacheMounts,
      secrets,
      pull: this.d.pull,
      tmpDir,
      log: this.d.log,
    };
    try {
      const df = parseDockerfile(ctx.dockerfile);
      const run = new BuildRun(deps, df, ctx.dir, opts, platformArgs(target, hostBuildPlatform()), (id) => this.hold(id, used));
      const id = await run.execute();
      await this.recordImage(id);
      opts.progress({ aux: { ID: id } });
      if (o.quiet) o.progress({ stream: `${id}\n` });
      else o.progress({ stream: `Successfully built ${shortId(id)}\n` });
      for (const t of tags) {
        // A rebuild that changed nothing writes nothing: the tag already names this image.
        if (this.d.images.db.tag(refString(t)) === id) this.d.images.events.publish('image', 'tag', id, { name: familiarString(t) });
        else await this.d.images.tag(id, familiarString(t), undefined);
        if (!o.quiet) o.progress({ stream: `Successfully tagged ${familiarString(t)}\n` });
      }
      this.d.log.debug('build done', { id, platform: formatBuildPlatform(target) });
      return id;
    } catch (err) {
      for (const m of held) o.progress(m);
      throw err;
    } finally {
      for (const id of used) this.release(id);
      await secrets.close();
      // Usage counts and the build's scratch files are not the client's business: they are
      // written and removed after the answer (start-up cleans up after a crash).
      const log = this.d.log;
      void Promise.all([this.d.store.flush(), fsp.rm(tmpDir, { recursive: true, force: true }), ctx.remove()]).catch((err: unknown) =>
        log.warn('cleaning up after a build failed', { err: String(err) }),
      );
    }
  }

  /** The final state becomes an image (a record in the image db; its content is already there). */
  private async recordImage(id: Digest): Promise<void> {
    if (this.d.images.db.image(id)) return;
    const state = this.d.store.state(id);
    if (!state) throw invalid(`the build's result ${shortId(id)} is missing from the build cache`);
    await this.d.images.commitImage({ id, diffIds: state.diffIds, layerBlobs: state.layerBlobs }, undefined);
  }

  private hold(id: Digest, used: Set<Digest>): void {
    if (used.has(id)) return;
    used.add(id);
    this.active.set(id, (this.active.get(id) ?? 0) + 1);
  }

  private release(id: Digest): void {
    const n = (this.active.get(id) ?? 1) - 1;
    if (n > 0) this.active.set(id, n);
    else this.active.delete(id);
  }
}
