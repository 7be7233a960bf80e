/**
 * `docker commit` (POST /commit): a container's changes (its overlay upper dir) become a new
 * image on top of the container's image. As dockerd: a running container is paused while its
 * files are read unless pause=false; the new config is the request's config (or the
 * container's), with the `changes` applied, over the container's config; the history step's
 * created_by is the container's Cmd; a `container commit` event carries the new image's ID.
 */
import { errorMessage, invalid, isBerthError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Digest } from '../common/digest.js';
import { applyChanges, mergeConfig } from '../images/commit-changes.js';
import { commitTarget, type ImageCommitter } from '../images/commit.js';
import type { ContainerConfig } from '../images/config.js';

export interface CommitOptions {
  repo?: string;
  tag?: string;
  comment?: string;
  author?: string;
  /** Pause a running container while reading its changes (default true, as Docker). */
  pause?: boolean;
  /** Dockerfile instructions (CMD, ENV, ...) applied to the new image's config. */
  changes?: string[];
  /** The request body: a config to start from instead of the container's. */
  config?: ContainerConfig;
}

/** What commit needs of the container service. */
export interface CommitHost {
  /** Throws notFound (404 "No such container: X"). */
  commitSource(ref: string): {
    id: string;
    imageId: Digest;
    upperDir: string;
    config: ContainerConfig;
    running: boolean;
    paused: boolean;
  };
  pause(ref: string): Promise<void>;
  unpause(ref: string): Promise<void>;
  publishFor(id: string, action: string, attrs: Record<string, string>): void;
}

export class ContainerCommits {
  constructor(
    private readonly host: CommitHost,
    private readonly committer: ImageCommitter,
    private readonly log: Logger,
  ) {}

  async commit(ref: string, opts: CommitOptions): Promise<{ Id: string }> {
    if (!opts.repo && opts.tag) throw invalid('tag is given without a repository');
    const target = opts.repo ? commitTarget(opts.repo, opts.tag || undefined) : undefined;
    const src = this.host.commitSource(ref);
    const requested = opts.config && Object.keys(opts.config).length > 0 ? opts.config : src.config;
    const config = mergeConfig(applyChanges(requested, opts.changes ?? []), src.config);
    let pause = opts.pause !== false && src.running && !src.paused;
    if (pause) {
      // A container that exits meanwhile (a short command committed right after its start)
      // cannot be paused and needs no pausing: commit it as it is, as dockerd does.
      pause = await this.host.pause(src.id).then(
        () => true,
        (err: unknown) => {
          if (isBerthError(err) && err.kind === 'conflict') return false;
          throw err;
        },
      );
    }
    let id: Digest;
    try {
      ({ id } = await this.committer.commit({
        parent: src.imageId,
        layerDir: src.upperDir,
        config,
        history: { created_by: (src.config.Cmd ?? []).join(' '), ...(opts.author ? { author: opts.author } : {}), ...(opts.comment ? { comment: opts.comment } : {}) },
        ...(opts.author ? { author: opts.author } : {}),
        ...(opts.comment ? { comment: opts.comment } : {}),
        container: src.id,
        ...(target ? { tags: [target.ref] } : {}),
      }));
    } finally {
      if (pause) {
        await this.host.unpause(src.id).catch((err: unknown) => this.log.warn('unpausing after commit failed', { id: src.id, err: errorMessage(err) }));
      }
    }
    this.host.publishFor(src.id, 'commit', {
      comment: opts.comment ?? '',
      imageID: id,
      imageRef: target?.familiar ?? '',
    });
    return { Id: id };
  }
}
