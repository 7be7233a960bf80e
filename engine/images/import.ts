/**
 * `docker import`: a filesystem tar (plain or compressed) becomes a one-layer image with no
 * parent. As dockerd: the config is empty but for the `changes`, the history is one entry
 * whose comment is the message ("Imported from <source>" when none is given), and an
 * `image import` event carries the new ID.
 */
import type { Readable } from 'node:stream';
import type { EventBus } from '../events/bus.js';
import { applyChanges } from './commit-changes.js';
import { commitTarget, type ImageCommitter } from './commit.js';

export interface ImportParams {
  repo?: string;
  tag?: string;
  message?: string;
  changes: string[];
  /** Where the tar came from ("-": the request body). */
  source: string;
}

export async function importImage(
  committer: ImageCommitter,
  events: EventBus,
  tar: Readable,
  params: ImportParams,
  signal?: AbortSignal,
): Promise<{ id: string }> {
  // Bad parameters are refused before a byte of the tar is read.
  const target = params.repo ? commitTarget(params.repo, params.tag) : undefined;
  const config = applyChanges({}, params.changes);
  const comment = params.message ?? `Imported from ${params.source}`;
  const { id } = await committer.commit(
    { layerTar: tar, config, history: { comment }, comment, ...(target ? { tags: [target.ref] } : {}) },
    signal,
  );
  events.publish('image', 'import', id, { name: target?.familiar ?? id });
  return { id };
}
