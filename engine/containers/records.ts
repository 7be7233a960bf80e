/**
 * The containers the daemon knows: each one's record on disk and what is live about it in
 * memory, the id/name index, and where its files go.
 *
 *   <data-root>/containers/<id>/  config.json (ContainerRecord, any version: record-upgrade.ts), hostname, hosts, resolv.conf,
 *                                 container.log (conmon k8s-file), upper/ work/ merged/ (overlay)
 *   <exec-root>/containers/<id>/  OCI bundle (config.json) and conmon's state dir
 *
 * Kept apart from the lifecycle (service.ts) so that the attach, logs and view code can share
 * the one in-memory shape (LiveContainer) and the one path layout without the orchestrator.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { removeTree } from '../../hostfs/rooted.js';
import { errorMessage, invalid, notFound } from '../common/errors.js';
import { atomicWriteJson, readJsonIfExists } from '../common/fsutil.js';
import type { Logger } from '../common/log.js';
import { unmount } from '../common/mounts.js';
import type { AttachSession } from '../runtime/monitor.js';
import type { LogRotator } from './logrotate.js';
import { upgradeRecord } from './record-upgrade.js';
import type { AttachSink, ContainerRecord } from './types.js';

/** A container as the daemon holds it: its record plus the state of its current run. */
export interface LiveContainer {
  rec: ContainerRecord;
  session?: AttachSession;
  sinks: Set<AttachSink>;
  exitWaiters: Set<(code: number) => void>;
  removeWaiters: Set<(code: number) => void>;
  /** Settles once the current run's exit has been processed. */
  exitDone?: Promise<void>;
  watchAbort?: AbortController;
  starting?: Promise<void>;
  removing?: Promise<void>;
  stopping?: boolean;
  /** Keeps the log's rotated files while the container runs (max-file > 1). */
  rotator?: LogRotator;
  /** The pending restart of a restart policy (Status 'restarting'). */
  restartTimer?: NodeJS.Timeout;
  /** The backoff delay the last policy restart waited (restart.ts). */
  restartDelayMs: number;
  /** Client stdin that arrived before the container started (attach comes before start). */
  pendingStdin: Buffer[];
  pendingStdinEnd: boolean;
}

export class ContainerRecords {
  readonly byId = new Map<string, LiveContainer>();
  readonly byName = new Map<string, string>();

  constructor(
    private readonly dataRoot: string,
    private readonly execRoot: string,
  ) {}

  // ---------------------------------------------------------------- paths

  dataDir(id: string): string {
    return path.join(this.dataRoot, 'containers', id);
  }
  execDir(id: string): string {
    return path.join(this.execRoot, 'containers', id);
  }
  logPath(id: string): string {
    return path.join(this.dataDir(id), 'container.log');
  }
  merged(id: string): string {
    return path.join(this.dataDir(id), 'merged');
  }
  async save(c: LiveContainer): Promise<void> {
    await atomicWriteJson(path.join(this.dataDir(c.rec.Id), 'config.json'), c.rec);
  }

  // ---------------------------------------------------------------- load

  /** Creates the containers directories under both roots. */
  async ensureDirs(): Promise<void> {
    await fsp.mkdir(path.join(this.dataRoot, 'containers'), { recursive: true, mode: 0o700 });
    await fsp.mkdir(path.join(this.execRoot, 'containers'), { recursive: true, mode: 0o700 });
  }

  /**
   * Reads the records on disk one by one (the caller registers and reconciles each as it comes).
   * A container directory without a record (a removal or a create that did not finish) is
   * removed; one whose record cannot be read for another reason is left alone.
   */
  async *load(log: Logger): AsyncGenerator<ContainerRecord> {
    const ids = await fsp.readdir(path.join(this.dataRoot, 'containers'));
    for (const id of ids) {
      let raw: unknown;
      try {
        raw = await readJsonIfExists<unknown>(path.join(this.dataDir(id), 'config.json'));
      } catch (err) {
        if (!(err instanceof SyntaxError)) {
          log.warn('ignoring a container directory whose record cannot be read', { id, err: errorMessage(err) });
          continue;
        }
      }
      // Records written by older versions are read too (record-upgrade.ts).
      const rec = upgradeRecord(raw);
      if (rec && rec.Id === id) {
        yield rec;
        continue;
      }
      if (!/^[0-9a-f]{64}$/.test(id)) {
        log.warn('ignoring a directory that is not a container', { id });
        continue;
      }
      await this.removeOrphan(id, log);
    }
  }

  /** Removes what is left of a container that has no record (its rootfs unmounted first). */
  private async removeOrphan(id: string, log: Logger): Promise<void> {
    try {
      await unmount(this.merged(id));
      await removeTree(this.execDir(id));
      await removeTree(this.dataDir(id));
      log.info('removed a container directory without a valid record', { id });
    } catch (err) {
      log.warn('cannot remove a container directory without a valid record', { id, err: errorMessage(err) });
    }
  }

  register(rec: ContainerRecord): LiveContainer {
    const c: LiveContainer = { rec, sinks: new Set(), exitWaiters: new Set(), removeWaiters: new Set(), pendingStdin: [], pendingStdinEnd: false, restartDelayMs: 0 };
    this.byId.set(rec.Id, c);
    this.byName.set(rec.Name, rec.Id);
    return c;
  }

  // ---------------------------------------------------------------- lookup

  find(ref: string): LiveContainer {
    const c = this.tryFind(ref);
    if (!c) throw notFound(`No such container: ${ref}`);
    return c;
  }

  tryFind(ref: string): LiveContainer | undefined {
    if (ref === '') return undefined;
    const exact = this.byId.get(ref);
    if (exact) return exact;
    const byName = this.byName.get(ref.startsWith('/') ? ref.slice(1) : ref);
    if (byName) return this.byId.get(byName);
    if (/^[a-f0-9]+$/.test(ref)) {
      const hits = [...this.byId.values()].filter((c) => c.rec.Id.startsWith(ref));
      if (hits.length === 1) return hits[0];
      if (hits.length > 1) throw invalid(`multiple IDs found with provided prefix: ${ref}`);
    }
    return undefined;
  }
}
