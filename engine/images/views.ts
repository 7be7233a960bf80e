import type { Readable, Writable } from 'node:stream';
import { chainIds, type Digest } from '../common/digest.js';
import { invalid } from '../common/errors.js';
import { heavyWork } from '../common/memory.js';
import type { AuthConfig, Platform, Registry } from '../registry/types.js';
import { familiarName, parseReference, parseRepoAndTag, refString } from '../registry/reference.js';
import { parseManifest } from '../registry/manifest.js';
import type { LayerStore } from '../store/types.js';
import type { ImageArchiver } from './archive.js';
import type { HistoryEntry, ImageConfig } from './config.js';
import type { ImageRecord } from './imagedb.js';
import type { ProgressSink } from './progress.js';
import type { Puller } from './pull.js';
import { matchLabel, parseTimeFilter, type DeleteResult, type ImageService } from './service.js';

/** Combine POST /images/create's fromImage and tag the way dockerd does. */
export function pullReference(fromImage: string, tag: string | undefined): string {
  return refString(parseRepoAndTag(fromImage, tag));
}

/** Docker's path.Match-style glob, as used by the `reference` filter. */
function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .split('')
        .map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('') +
      '$',
  );
  return re.test(s);
}

function createdSeconds(cfg: ImageConfig): number {
  const t = cfg.created ? Date.parse(cfg.created) : NaN;
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

/**
 * The Docker API's view of images: list, inspect and history shapes, filters,
 * and the pull/save/load/distribution entry points. Implements the API layer's
 * ImagesBackend.
 */
export class ImageViews {
  constructor(
    private readonly images: ImageService,
    private readonly layers: LayerStore,
    private readonly puller: Puller,
    private readonly archiver: () => Promise<ImageArchiver>,
    private readonly registry: () => Promise<Registry>,
  ) {}

  async list(opts: { all: boolean; digests: boolean; filters: Record<string, string[]> }): Promise<unknown[]> {
    const f = opts.filters;
    const boundary = async (key: string): Promise<number | undefined> => {
      const names = f[key];
      if (!names || names.length === 0) return undefined;
      const { config } = await this.images.resolve(names[0] as string);
      return createdSeconds(config);
    };
    const before = await boundary('before');
    const since = await boundary('since');
    const until = f['until']?.map(parseTimeFilter);
    const dangling = f['dangling']?.[0];
    if (dangling !== undefined && !['true', 'false', '1', '0'].includes(dangling)) {
      throw invalid(`invalid filter 'dangling=${dangling}'`);
    }
    const out: Array<Record<string, unknown>> = [];
    for (const rec of this.images.list()) {
      const cfg = await this.images.config(rec.id);
      const tags = this.images.repoTags(rec.id);
      const created = createdSeconds(cfg);
      if (!opts.all && tags.length === 0 && this.images.children(rec.id).length > 0) continue;
      if (dangling !== undefined && (dangling === 'true' || dangling === '1') !== this.images.isDangling(rec)) continue;
      if (before !== undefined && created >= before) continue;
      if (since !== undefined && created <= since) continue;
      if (until && !until.every((u) => created < u)) continue;
      const labels = cfg.config?.Labels ?? {};
      if (f['label'] && !f['label'].every((l) => matchLabel(labels, l))) continue;
      let shownTags = tags;
      if (f['reference']?.length) {
        const refs = f['reference'];
        shownTags = tags.filter((t) =>
          refs.some((p) => globMatch(p, t) || globMatch(p, familiarName(parseReference(t)))),
        );
        if (shownTags.length === 0) continue;
      }
      out.push({
        Id: rec.id,
        ParentId: rec.parent ?? '',
        RepoTags: shownTags,
        RepoDigests: this.images.familiarRepoDigests(rec),
        Created: created,
        Size: rec.size,
        SharedSize: -1,
        VirtualSize: rec.size,
        Labels: cfg.config?.Labels ?? {},
        Containers: this.images.users.containersUsing(rec.id).length,
      });
    }
    out.sort((a, b) => (b['Created'] as number) - (a['Created'] as number));
    return out;
  }

  async inspect(name: string): Promise<unknown> {
    const { record, config } = await this.images.resolve(name);
    const chains = chainIds(record.diffIds);
    const dirs = chains.map((c) => this.layers.diffDir(c)).reverse();
    return {
      Id: record.id,
      RepoTags: this.images.repoTags(record.id),
      RepoDigests: this.images.familiarRepoDigests(record),
      Parent: record.parent ?? '',
      // dockerd falls back to the last step's comment (builds and commits put it there).
      Comment: config.comment || (config.history?.at(-1)?.comment ?? ''),
      Created: config.created ?? '0001-01-01T00:00:00Z',
      Container: config.container ?? '',
      ContainerConfig: config.container_config ?? emptyContainerConfig(),
      DockerVersion: config.docker_version ?? '',
      Author: config.author ?? '',
      Config: config.config ?? emptyContainerConfig(),
      Architecture: config.architecture,
      ...(config.variant ? { Variant: config.variant } : {}),
      Os: config.os,
      ...(config['os.version'] ? { OsVersion: config['os.version'] } : {}),
      Size: record.size,
      VirtualSize: record.size,
      GraphDriver: {
        Name: 'overlay2',
        Data: {
          ...(dirs.length > 1 ? { LowerDir: dirs.slice(1).join(':') } : {}),
          ...(dirs[0] ? { UpperDir: dirs[0] } : {}),
        },
      },
      RootFS: { Type: 'layers', Layers: record.diffIds },
      Metadata: { LastTagTime: record.lastTagTime ?? '0001-01-01T00:00:00Z' },
    };
  }

  async history(name: string): Promise<unknown[]> {
    const { record, config } = await this.images.resolve(name);
    const sizes: number[] = [];
    for (const c of chainIds(record.diffIds)) sizes.push((await this.layers.get(c))?.size ?? 0);
    const entries: HistoryEntry[] =
      config.history && config.history.length > 0
        ? config.history
        : record.diffIds.map(() => (config.created ? { created: config.created } : {}));
    let layer = 0;
    const rows = entries.map((h) => {
      const size = h.empty_layer ? 0 : (sizes[layer++] ?? 0);
      return {
        Id: '<missing>',
        Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
        CreatedBy: h.created_by ?? '',
        Tags: null as string[] | null,
        Size: size,
        Comment: h.comment ?? '',
      };
    });
    rows.reverse();
    // As dockerd: the newest row is the image, each older one its next parent (build and
    // commit make one image per step), as far as the parent chain is known locally.
    let img: ImageRecord | undefined = record;
    for (const row of rows) {
      if (!img) break;
      row.Id = img.id;
      row.Tags = this.images.repoTags(img.id);
      img = img.parent !== undefined ? this.images.db.image(img.parent) : undefined;
    }
    return rows;
  }

  async tag(name: string, repo: string, tag: string | undefined): Promise<void> {
    await this.images.tag(name, repo, tag);
  }

  async remove(name: string, opts: { force: boolean; noprune: boolean }): Promise<DeleteResult> {
    return this.images.remove(name, opts);
  }

  async prune(filters: Record<string, string[]>): Promise<unknown> {
    return this.images.prune(filters);
  }

  async pull(
    fromImage: string,
    tag: string | undefined,
    opts: { auth?: AuthConfig; platform?: Platform; signal: AbortSignal; progress: ProgressSink },
  ): Promise<void> {
    await heavyWork(() => this.puller.pull(pullReference(fromImage, tag), opts));
  }

  /** Same name rules as save itself: a bare repository means all of its tags. */
  async checkNames(names: string[]): Promise<void> {
    (await this.archiver()).checkNames(names);
  }

  async save(names: string[], out: Writable, signal: AbortSignal): Promise<void> {
    const archiver = await this.archiver();
    await heavyWork(() => archiver.save(names, out, { signal }));
  }

  async load(input: Readable, progress: ProgressSink, opts: { quiet: boolean; signal: AbortSignal }): Promise<void> {
    const archiver = await this.archiver();
    await heavyWork(() => archiver.load(input, progress, opts));
  }

  async distribution(name: string, auth?: AuthConfig): Promise<unknown> {
    const ref = parseReference(name);
    const session = (await this.registry()).session(ref, auth, ['pull']);
    const m = await session.getManifest(ref.digest ?? ref.tag ?? 'latest');
    const parsed = parseManifest(m.mediaType, m.body);
    let platforms: Array<Record<string, unknown>>;
    if ('manifests' in parsed) {
      platforms = parsed.manifests
        .filter((d) => d.platform && d.platform.os !== 'unknown')
        .map((d) => ({ ...d.platform }));
    } else {
      const { stream } = await session.fetchBlob(parsed.config.digest as Digest);
      const chunks: Buffer[] = [];
      for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
      const cfg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ImageConfig;
      platforms = [{ architecture: cfg.architecture, os: cfg.os, ...(cfg.variant ? { variant: cfg.variant } : {}) }];
    }
    return {
      Descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.body.length },
      Platforms: platforms,
    };
  }

  /**
   * The Images section of `docker system df`, as dockerd answers it: the top-level images (what
   * `docker images` lists: tagged ones, and untagged ones no other image builds on), each with the
   * bytes it shares with another of them, and LayersSize counting every layer those images
   * reference once (layers shared between images are on disk once).
   */
  async diskUsageImages(): Promise<{ layersSize: number; images: unknown[] }> {
    const images = (await this.list({ all: false, digests: true, filters: {} })) as Array<Record<string, unknown>>;
    const layerSize = new Map((await this.layers.list()).map((l) => [l.chainId as string, l.size]));
    const chainsOf = new Map<string, string[]>();
    const layerUse = new Map<string, number>();
    for (const img of images) {
      const rec = this.images.db.image(img['Id'] as Digest) as ImageRecord | undefined;
      const chains = rec ? chainIds(rec.diffIds) : [];
      chainsOf.set(img['Id'] as string, chains);
      for (const c of new Set(chains)) layerUse.set(c, (layerUse.get(c) ?? 0) + 1);
    }
    for (const img of images) {
      let shared = 0;
      for (const c of new Set(chainsOf.get(img['Id'] as string))) if ((layerUse.get(c) ?? 0) > 1) shared += layerSize.get(c) ?? 0;
      img['SharedSize'] = shared;
    }
    // Layers only the build cache holds are counted in its own section (BuildCache), not here.
    let layersSize = 0;
    for (const c of layerUse.keys()) layersSize += layerSize.get(c) ?? 0;
    return { layersSize, images };
  }

}

function emptyContainerConfig(): Record<string, unknown> {
  return {
    Hostname: '',
    Domainname: '',
    User: '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: null,
    Cmd: null,
    Image: '',
    Volumes: null,
    WorkingDir: '',
    Entrypoint: null,
    OnBuild: null,
    Labels: null,
  };
}
