/**
 * Jobs: long work that lives in the bridge host rather than in a view, so a pull, push or build keeps going while
 * the user navigates and its progress can be shown anywhere. A pull's progress is folded per layer
 * from the engine's JSON messages (status, progressDetail current/total); cancelling aborts the HTTP
 * request, which makes the engine stop the pull. Finished jobs stay listed for a while so the
 * renderer can show what just happened, then are dropped.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { isAbortError, packPath } from '../../client/index.js';
import type { EngineClient } from '../../client/index.js';
import type { BuildRequest, Job, LayerProgress } from '../../types/desktop-api.js';
import type { ProgressMessage } from '../../types/engine-api.js';
import { notFound, toBridgeError } from './errors.js';
import { classifyPullError } from './pull-problems.js';

/** How long a finished job stays in the list. */
export const FINISHED_JOB_TTL_MS = 10 * 60_000;
/** Updates of one running job are pushed at most this often (a pull sends hundreds per second). */
const UPDATE_INTERVAL_MS = 100;
const LAYER_ID = /^[0-9a-f]{12,64}$/;

type Listener = (job: Job) => void;

interface Entry {
  job: Job;
  /** The image reference a pull or push is about (for explaining its failure). */
  ref?: string;
  abort: AbortController;
  timer?: NodeJS.Timeout;
  pending: boolean;
}

/** Fold one pull message into the job: layer lines update their layer, the rest become the message. */
export function applyPullMessage(job: Job, msg: ProgressMessage): void {
  if (msg.error || msg.errorDetail) {
    job.error = msg.errorDetail?.message || msg.error || 'pull failed';
    return;
  }
  if (msg.id && LAYER_ID.test(msg.id) && msg.status) {
    let layer = job.layers.find((l) => l.id === msg.id);
    if (!layer) {
      layer = { id: msg.id, status: msg.status };
      job.layers.push(layer);
    }
    const next: LayerProgress = { id: msg.id, status: msg.status };
    const d = msg.progressDetail;
    if (d && typeof d.current === 'number') next.current = d.current;
    if (d && typeof d.total === 'number' && d.total > 0) next.total = d.total;
    // Keep the size once known: later lines ("Pull complete") carry no counts.
    if (next.total === undefined && layer.total !== undefined) next.total = layer.total;
    if (next.current === undefined && /complete|exists|^pushed|^mounted from/i.test(msg.status) && next.total !== undefined) next.current = next.total;
    Object.assign(layer, next);
    if (next.current === undefined) delete layer.current;
    return;
  }
  if (msg.status) job.message = msg.id && !LAYER_ID.test(msg.id) ? `${msg.id}: ${msg.status}` : msg.status;
}

/** The build output lines a job keeps (the latest). */
const MAX_OUTPUT_LINES = 2000;

/** Fold one build message into the job: output text becomes lines; the image ID becomes the message. */
export function applyBuildMessage(job: Job, msg: ProgressMessage & { stream?: string }): void {
  if (msg.error || msg.errorDetail) {
    job.error = msg.errorDetail?.message || msg.error || 'build failed';
    return;
  }
  const aux = msg.aux as { ID?: string } | undefined;
  if (aux?.ID) job.message = `Built ${aux.ID}`;
  if (typeof msg.stream === 'string' && msg.stream !== '') {
    const out = (job.output ??= []);
    // Lines keep their newline; a chunk that ended mid-line is continued by the next one.
    let text = msg.stream;
    if (out.length > 0 && !(out[out.length - 1] as string).endsWith('\n')) text = (out.pop() as string) + text;
    out.push(...text.split(/(?<=\n)/));
    if (out.length > MAX_OUTPUT_LINES) out.splice(0, out.length - MAX_OUTPUT_LINES);
  }
}

export class JobManager {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<Listener>();

  list(): Job[] {
    return [...this.entries.values()].map((e) => structuredClone(e.job));
  }

  /** Calls `fn` on every update (a copy of the job); returns the unsubscribe function. */
  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Starts pulling `ref` on `client`; resolves at once with the job's id. */
  pull(client: EngineClient, ref: string): string {
    return this.start('pull', `Pull ${ref}`, (signal) => client.pullImage(ref, { signal }), applyPullMessage, ref);
  }

  /** Starts pushing the local tag `ref` (the same per-layer progress as a pull). */
  push(client: EngineClient, ref: string): string {
    return this.start('push', `Push ${ref}`, (signal) => client.pushImage(ref, { signal }), applyPullMessage, ref);
  }

  /** Starts a build from a host directory; its output lines go to `job.output`. */
  build(client: EngineClient, req: BuildRequest): string {
    const title = `Build ${req.tags?.[0] ?? req.context}`;
    return this.start(
      'build',
      title,
      (signal) =>
        client.buildImage(Readable.from(packPath(req.context, { rootName: '', contentsOnly: true })), {
          ...(req.tags ? { tags: req.tags } : {}),
          ...(req.dockerfile ? { dockerfile: req.dockerfile } : {}),
          ...(req.buildArgs ? { buildArgs: req.buildArgs } : {}),
          noCache: req.noCache === true,
          signal,
        }),
      applyBuildMessage,
    );
  }

  private start(
    kind: Job['kind'],
    title: string,
    messages: (signal: AbortSignal) => AsyncIterable<ProgressMessage>,
    fold: (job: Job, m: ProgressMessage) => void,
    ref?: string,
  ): string {
    const job: Job = { id: randomUUID(), kind, title, state: 'running', startedAt: new Date().toISOString(), layers: [] };
    const entry: Entry = { job, abort: new AbortController(), pending: false, ...(ref ? { ref } : {}) };
    this.entries.set(job.id, entry);
    this.emit(entry);
    void this.runJob(entry, messages, fold);
    return job.id;
  }

  cancel(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) throw notFound(`no job with id "${id}"`);
    if (entry.job.state === 'running') entry.abort.abort();
  }

  /** Forgets a job (cancelling it first when it still runs); listeners get it with `dismissed`. */
  dismiss(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) throw notFound(`no job with id "${id}"`);
    if (entry.job.state === 'running') entry.abort.abort();
    this.forget(entry);
  }

  /** Forgets every job that has ended; answers how many. */
  clearFinished(): number {
    const done = [...this.entries.values()].filter((e) => e.job.state !== 'running');
    for (const e of done) this.forget(e);
    return done.length;
  }

  private forget(entry: Entry): void {
    if (entry.timer) clearTimeout(entry.timer);
    this.entries.delete(entry.job.id);
    for (const fn of this.listeners) fn({ ...structuredClone(entry.job), dismissed: true });
  }

  /** Cancels running jobs and forgets everything (the host is closing). */
  close(): void {
    for (const e of this.entries.values()) {
      e.abort.abort();
      if (e.timer) clearTimeout(e.timer);
    }
    this.entries.clear();
    this.listeners.clear();
  }

  private async runJob(entry: Entry, messages: (signal: AbortSignal) => AsyncIterable<ProgressMessage>, fold: (job: Job, m: ProgressMessage) => void): Promise<void> {
    const { job } = entry;
    try {
      for await (const msg of messages(entry.abort.signal)) {
        fold(job, msg);
        this.schedule(entry);
      }
      job.state = job.error ? 'failed' : 'done';
    } catch (err) {
      if (entry.abort.signal.aborted || isAbortError(err)) {
        job.state = 'cancelled';
      } else {
        job.state = 'failed';
        job.error = toBridgeError(err).message;
      }
    }
    if (job.state === 'failed' && job.error && entry.ref) job.problem = classifyPullError(job.error, entry.ref);
    job.finishedAt = new Date().toISOString();
    if (entry.timer) clearTimeout(entry.timer);
    entry.pending = false;
    if (!this.entries.has(job.id)) return; // dismissed while it ran
    this.emit(entry);
    const drop = setTimeout(() => this.entries.delete(job.id), FINISHED_JOB_TTL_MS);
    drop.unref();
    entry.timer = drop;
  }

  private schedule(entry: Entry): void {
    if (entry.pending) return;
    entry.pending = true;
    entry.timer = setTimeout(() => {
      entry.pending = false;
      if (entry.job.state === 'running' && this.entries.has(entry.job.id)) this.emit(entry);
    }, UPDATE_INTERVAL_MS);
  }

  private emit(entry: Entry): void {
    for (const fn of this.listeners) fn(structuredClone(entry.job));
  }
}
