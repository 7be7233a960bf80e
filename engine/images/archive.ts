/**
 * `docker save` / `docker load`: images to and from tar archives.
 *
 * ImageArchiver is the one entry point the daemon and the image views use; the
 * work lives in archive/:
 *   save.ts     the save path (name resolution, the Docker 25+ / OCI layout written);
 *   load.ts     the load path: staging every layer, then committing all at once;
 *   spool.ts    load's first step, the archive's entries copied to scratch files;
 *   layouts.ts  load's second step, the docker, legacy and OCI layouts parsed and validated;
 *   format.ts   what both halves share (annotations, archive paths, errors).
 */
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../common/log.js';
import type { LayerStore } from '../store/types.js';
import { ImageLoader, type LoadResult } from './archive/load.js';
import { ImageSaver } from './archive/save.js';
import type { ProgressSink } from './progress.js';
import type { ImageService } from './service.js';

export { IMAGE_NAME_ANNOTATION, REF_NAME_ANNOTATION } from './archive/format.js';
export type { LoadResult } from './archive/load.js';

export class ImageArchiver {
  private readonly saver: ImageSaver;
  private readonly loader: ImageLoader;

  constructor(images: ImageService, layers: LayerStore, log: Logger) {
    this.saver = new ImageSaver(images, layers);
    this.loader = new ImageLoader(images, layers, log);
  }

  /** Resolve save names without writing anything (see ImageSaver.checkNames). */
  checkNames(names: string[]): void {
    this.saver.checkNames(names);
  }

  /** Stream a `docker save` archive to `out` (see ImageSaver.save). */
  save(names: string[], out: Writable, opts: { signal?: AbortSignal } = {}): Promise<void> {
    return this.saver.save(names, out, opts);
  }

  /** Load a `docker save` or OCI layout archive (see ImageLoader.load). */
  load(input: Readable, progress: ProgressSink, opts: { quiet?: boolean; signal?: AbortSignal } = {}): Promise<LoadResult> {
    return this.loader.load(input, progress, opts);
  }
}
