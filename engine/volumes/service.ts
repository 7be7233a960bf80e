/**
 * VolumeService: volumes as the API and the containers see them. Names and driver options are
 * checked here (Docker's messages), volumes in use are protected (any container record that
 * mounts one, running or not), and volume events are published: create, mount, unmount,
 * destroy, prune. The disk and the mounts are the VolumeStore's (store.ts).
 */
import { randomBytes } from 'node:crypto';
import { conflict, invalid, notFound } from '../common/errors.js';
import { diskUsage } from '../common/fsutil.js';
import { matchKVList, parsePruneFilters, prunable } from '../common/prune-filters.js';
import { validateLocalOptions } from './local-options.js';
import type { VolumeStore } from './store.js';
import { ANONYMOUS_LABEL, type VolumeCreateRequest, type VolumeEventSink, type VolumeRecord, type VolumeUsers } from './types.js';

/** Docker's rule for local volume names (at least two characters). */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** What one volume looks like on the API (GET /volumes/{name}, list entries, /system/df). */
export interface VolumeView {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
  Options: Record<string, string> | null;
  UsageData?: { Size: number; RefCount: number };
}

/** Where a container mounts a volume (the attributes of the `mount` event). */
export interface VolumeMountUse {
  container: string;
  destination: string;
  rw: boolean;
  propagation: string;
  /** Who holds the volume: the container at its destination unless told otherwise (docker cp). */
  holder?: string;
}

/** A local volume is a directory named after it: one path component, at most NAME_MAX bytes. */
const MAX_VOLUME_NAME = 255;

export function validateVolumeName(name: string): void {
  if (name.length === 1) throw invalid(`create ${name}: volume name is too short, names should be at least two alphanumeric characters`);
  if (name.length > MAX_VOLUME_NAME) {
    throw invalid(`create ${name.slice(0, 32)}...: volume name is too long, names can be at most ${MAX_VOLUME_NAME} characters`);
  }
  if (!VOLUME_NAME.test(name)) {
    throw invalid(
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

function stringMap(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(`${what} must be an object of strings`);
  for (const x of Object.values(v)) if (typeof x !== 'string') throw invalid(`${what} must be an object of strings`);
  return { ...(v as Record<string, string>) };
}

/** Docker matches name filters as regular expressions (an invalid one matches as text). */
function nameMatches(pattern: string, name: string): boolean {
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return name.includes(pattern);
  }
}

function boolFilter(key: string, v: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw invalid(`invalid filter '${key}=${v}'`);
}

export class VolumeService {
  /** Set by the daemon once the containers exist. */
  users?: VolumeUsers;

  constructor(
    private readonly store: VolumeStore,
    private readonly publish: VolumeEventSink,
  ) {}

  /**
   * Docker's "volume is in use - [ids]" (clients match on it), followed by the containers' names:
   * a person knows "web", not a 64-digit id.
   */
  private inUseBy(ids: string[]): string {
    const names = ids.map((id) => this.users?.nameOf?.(id)).filter((n): n is string => !!n);
    const who = names.length === 0 ? '' : ` (used by container${names.length === 1 ? '' : 's'} ${names.join(', ')})`;
    return `volume is in use - [${ids.join(', ')}]${who}`;
  }

  private usersOf(name: string): string[] {
    return this.users?.containersUsing(name) ?? [];
  }

  private view(rec: VolumeRecord): VolumeView {
    return {
      CreatedAt: rec.CreatedAt,
      Driver: rec.Driver,
      Labels: { ...rec.Labels },
      Mountpoint: this.store.dataPath(rec.Name),
      Name: rec.Name,
      Options: Object.keys(rec.Options).length > 0 ? { ...rec.Options } : null,
      Scope: 'local',
    };
  }

  private find(name: string): VolumeRecord {
    const rec = this.store.get(name);
    if (!rec) throw notFound(`get ${name}: no such volume`);
    return rec;
  }

  exists(name: string): boolean {
    return this.store.get(name) !== undefined;
  }

  /** The host directory containers mount for this volume. */
  dataPath(name: string): string {
    return this.store.dataPath(name);
  }

  // ---------------------------------------------------------------- create

  /**
   * POST /volumes/create, and volumes containers ask for. The same name again returns the volume
   * that exists (Docker's idempotent create); no name makes a random 64-hex one, and `anonymous`
   * marks it as a container's own (Docker's anonymous label).
   */
  async create(body: unknown, opts: { anonymous?: boolean } = {}): Promise<VolumeView> {
    const { name, options, labels, named } = this.normalize(body);
    // A volume created without a name is anonymous, as in dockerd (volume prune takes it).
    if (opts.anonymous || !named) labels[ANONYMOUS_LABEL] = '';
    const existing = this.store.get(name);
    if (existing) return this.view(existing);
    const rec: VolumeRecord = {
      version: 1,
      Name: name,
      Driver: 'local',
      Labels: labels,
      Options: options,
      CreatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      Anonymous: opts.anonymous === true,
    };
    if (await this.store.create(rec)) this.publish('create', name, { driver: 'local' });
    return this.view(this.find(name));
  }

  /** Throws what create would throw for this request (bad name, unknown driver, bad options), creating nothing. */
  check(body: unknown): void {
    this.normalize(body);
  }

  private normalize(body: unknown): { name: string; named: boolean; options: Record<string, string>; labels: Record<string, string> } {
    if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) throw invalid('volume config must be a JSON object');
    const req = body as VolumeCreateRequest | null | undefined;
    if (req?.Name !== undefined && req.Name !== null && typeof req.Name !== 'string') throw invalid('Name must be a string');
    const name = req?.Name || randomBytes(32).toString('hex');
    validateVolumeName(name);
    const driver = req?.Driver || 'local';
    if (typeof driver !== 'string') throw invalid('Driver must be a string');
    if (driver !== 'local') throw notFound(`create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    const options = stringMap(req?.DriverOpts, 'DriverOpts');
    validateLocalOptions(options);
    return { name, named: Boolean(req?.Name), options, labels: stringMap(req?.Labels, 'Labels') };
  }

  // ---------------------------------------------------------------- read

  inspect(name: string): VolumeView {
    return this.view(this.find(name));
  }

  /** GET /volumes with Docker's filters (dangling, driver, label, name). */
  list(filters: Record<string, string[]>): { Volumes: VolumeView[]; Warnings: string[] } {
    const dangling = filters['dangling']?.map((v) => boolFilter('dangling', v));
    const keep = (rec: VolumeRecord): boolean =>
      (!dangling || dangling.some((d) => d === (this.usersOf(rec.Name).length === 0))) &&
      (!filters['driver'] || filters['driver'].includes(rec.Driver)) &&
      (!filters['name'] || filters['name'].some((p) => nameMatches(p, rec.Name))) &&
      matchKVList(filters['label'] ?? [], rec.Labels);
    const volumes = this.store.all().filter(keep).sort((a, b) => a.Name.localeCompare(b.Name));
    return { Volumes: volumes.map((r) => this.view(r)), Warnings: [] };
  }

  /** The Volumes section of /system/df: every volume with its size and how many containers use it. */
  async diskUsage(): Promise<VolumeView[]> {
    return Promise.all(
      this.store.all().map(async (rec) => ({
        ...this.view(rec),
        UsageData: { Size: await diskUsage(this.store.dataPath(rec.Name)).catch(() => -1), RefCount: this.usersOf(rec.Name).length },
      })),
    );
  }

  // ---------------------------------------------------------------- remove

  /** DELETE /volumes/{name}: 409 while any container uses it; `force` only forgives a missing volume. */
  async remove(name: string, opts: { force: boolean }): Promise<void> {
    if (!this.store.get(name)) {
      if (opts.force) return;
      throw notFound(`get ${name}: no such volume`);
    }
    const users = this.usersOf(name);
    if (users.length > 0) throw conflict(`remove ${name}: ${this.inUseBy(users)}`);
    await this.store.remove(name);
    this.publish('destroy', name, { driver: 'local' });
  }

  /** Removes a container's anonymous volume when nothing else uses it (`rm -v`, `--rm`). */
  async removeAnonymous(name: string): Promise<void> {
    const rec = this.store.get(name);
    if (!rec?.Anonymous || this.usersOf(name).length > 0) return;
    await this.store.remove(name);
    this.publish('destroy', name, { driver: 'local' });
  }

  /**
   * POST /volumes/prune: unused volumes matching the label filters; only anonymous ones unless
   * `all` (API ≥ 1.42 semantics; the route passes all=true for older clients).
   */
  async prune(filters: Record<string, string[]>, opts: { all: boolean }): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    const f = parsePruneFilters(filters, ['label', 'label!']);
    // As dockerd: without `all`, only anonymous volumes (those with the anonymous label).
    if (!opts.all) f.label = [...f.label, ANONYMOUS_LABEL];
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const rec of this.store.all()) {
      if (!prunable(f, 0, rec.Labels)) continue;
      if (this.usersOf(rec.Name).length > 0) continue;
      const size = await diskUsage(this.store.dataPath(rec.Name)).catch(() => 0);
      await this.store.remove(rec.Name);
      this.publish('destroy', rec.Name, { driver: 'local' });
      deleted.push(rec.Name);
      reclaimed += size;
    }
    this.publish('prune', '', { reclaimed: String(reclaimed) });
    return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  // ---------------------------------------------------------------- container use

  /** A container starts using the volume (mounted on first use); returns the host path to mount. */
  async mount(name: string, use: VolumeMountUse): Promise<string> {
    this.find(name);
    const data = await this.store.acquire(name, use.holder ?? `${use.container}\0${use.destination}`);
    this.publish('mount', name, {
      container: use.container,
      destination: use.destination,
      driver: 'local',
      propagation: use.propagation,
      'read/write': String(use.rw),
    });
    return data;
  }

  /** The container stopped using it (unmounted after the last user). */
  async unmount(name: string, use: { container: string; destination: string; holder?: string }): Promise<void> {
    if (!this.store.get(name)) return;
    await this.store.release(name, use.holder ?? `${use.container}\0${use.destination}`);
    this.publish('unmount', name, { container: use.container, driver: 'local' });
  }

  /** The daemon restarted: a running container's volume mount is still there; count it again. */
  async adopt(name: string, use: { container: string; destination: string }): Promise<void> {
    if (this.store.get(name)) await this.store.acquire(name, `${use.container}\0${use.destination}`);
  }

  /** After start-up reconciliation: unmount volumes that no running container holds. */
  releaseUnheld(): Promise<void> {
    return this.store.releaseUnheld();
  }
}
