/**
 * Containers: records on disk, the overlay root filesystem, the OCI bundle and the conmon
 * monitor that runs each one.
 *
 *   <data-root>/containers/<id>/  config.json (ContainerRecord), hostname, hosts, resolv.conf,
 *                                 container.log (conmon k8s-file), upper/ work/ merged/ (overlay)
 *   <exec-root>/containers/<id>/  OCI bundle (config.json) and conmon's state dir
 *   <exec-root>/runc/             runc --root
 *
 * The daemon attaches itself to every container it starts (before `runc start`, so nothing is
 * missed) and fans the output out to attached API clients. Containers outlive the daemon: on
 * start-up, records are reloaded and reconciled with what conmon's files say.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { chainIds, type Digest } from '../common/digest.js';
import { BerthError, conflict, errorMessage, invalid, isBerthError, notFound } from '../common/errors.js';
import { atomicWrite, atomicWriteJson, readJsonIfExists } from '../common/fsutil.js';
import type { Logger } from '../common/log.js';
import type { EventBus } from '../events/bus.js';
import type { ImageService } from '../images/service.js';
import type { ImageConfig } from '../images/config.js';
import { ConmonMonitor, formatLogTime, type AttachSession, type LogEntry } from '../runtime/monitor.js';
import { buildSpec, effectiveStopSignal, effectiveUser, probeHostFacts, resolveCommand, resolveWorkingDir, serializeSpec } from '../runtime/spec.js';
import type { HostFacts, ImageRuntimeConfig } from '../runtime/types.js';
import { ensureWorkingDir, resolveUser } from '../runtime/user.js';
import { generateName, newContainerId, validateName } from './names.js';
import { mountOverlay, unmount } from './rootfs.js';
import { encodeOutput, type OutputStream } from './stdcopy.js';
import {
  ZERO_TIME,
  type AttachOptions,
  type AttachSink,
  type ContainerRecord,
  type CreateBody,
  type LogsOptions,
  type WaitCondition,
} from './types.js';

const RUNC_PATHS = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc'];

export interface ContainerServiceOptions {
  dataRoot: string;
  execRoot: string;
  images: ImageService;
  events: EventBus;
  log: Logger;
  runtime?: string;
  conmon?: string;
}

interface Live {
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
  /** Client stdin that arrived before the container started (attach comes before start). */
  pendingStdin: Buffer[];
  pendingStdinEnd: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ContainerService {
  private readonly byId = new Map<string, Live>();
  private readonly byName = new Map<string, string>();
  private readonly monitor: ConmonMonitor;
  private readonly runtime: string;
  private readonly cgroupParent: string;
  private hostFacts?: Promise<HostFacts>;
  private closed = false;

  constructor(private readonly o: ContainerServiceOptions) {
    this.monitor = new ConmonMonitor(o.conmon ? { conmonPath: o.conmon } : {});
    this.runtime = o.runtime ?? RUNC_PATHS.find((p) => existsSync(p)) ?? 'runc';
    const hash = createHash('sha256').update(path.resolve(o.dataRoot)).digest('hex').slice(0, 12);
    this.cgroupParent = `/berth-${hash}`;
  }

  // ---------------------------------------------------------------- paths

  private dataDir(id: string): string {
    return path.join(this.o.dataRoot, 'containers', id);
  }
  private execDir(id: string): string {
    return path.join(this.o.execRoot, 'containers', id);
  }
  private merged(id: string): string {
    return path.join(this.dataDir(id), 'merged');
  }
  private async save(c: Live): Promise<void> {
    await atomicWriteJson(path.join(this.dataDir(c.rec.Id), 'config.json'), c.rec);
  }
  private facts(): Promise<HostFacts> {
    return (this.hostFacts ??= probeHostFacts({ cgroupParent: this.cgroupParent }));
  }

  // ---------------------------------------------------------------- start-up

  /** Loads every record and reconciles running ones with their monitors. */
  async init(): Promise<void> {
    await fsp.mkdir(path.join(this.o.dataRoot, 'containers'), { recursive: true, mode: 0o700 });
    await fsp.mkdir(path.join(this.o.execRoot, 'containers'), { recursive: true, mode: 0o700 });
    void this.facts().catch(() => undefined);
    const ids = await fsp.readdir(path.join(this.o.dataRoot, 'containers'));
    for (const id of ids) {
      const rec = await readJsonIfExists<ContainerRecord>(path.join(this.dataDir(id), 'config.json')).catch(() => undefined);
      if (!rec || rec.Id !== id) {
        this.o.log.warn('ignoring a container directory without a valid record', { id });
        continue;
      }
      const c = this.register(rec);
      if (rec.State.Status === 'running' || rec.State.Status === 'removing') await this.reconcile(c);
      else if (rec.State.Status === 'created') await this.dropHalfStarted(c);
    }
  }

  private register(rec: ContainerRecord): Live {
    const c: Live = { rec, sinks: new Set(), exitWaiters: new Set(), removeWaiters: new Set(), pendingStdin: [], pendingStdinEnd: false };
    this.byId.set(rec.Id, c);
    this.byName.set(rec.Name, rec.Id);
    return c;
  }

  private async reconcile(c: Live): Promise<void> {
    const dir = this.execDir(c.rec.Id);
    try {
      const st = await this.monitor.state(dir);
      if (st.status === 'running') {
        c.rec.State.Status = 'running';
        if (st.pid) c.rec.State.Pid = st.pid;
        c.session = await this.monitor.attach(dir).catch(() => undefined);
        if (c.session) this.pump(c, c.session);
        this.watch(c);
        this.o.log.info('container still running', { id: c.rec.Id, pid: c.rec.State.Pid });
        return;
      }
      await this.finishExit(c, st.exitCode ?? 255, st.oomKilled);
    } catch (err) {
      this.o.log.warn('container monitor state is gone; marking the container exited', { id: c.rec.Id, err: errorMessage(err) });
      await this.finishExit(c, 255, false);
    }
  }

  /** A daemon that died between `runc create` and `runc start` leaves a monitor behind: remove it. */
  private async dropHalfStarted(c: Live): Promise<void> {
    const dir = this.execDir(c.rec.Id);
    if (!existsSync(path.join(dir, 'monitor.json'))) return;
    this.o.log.warn('removing a container start that was interrupted', { id: c.rec.Id });
    await this.monitor.remove(dir, { force: true }).catch(() => undefined);
    await unmount(this.merged(c.rec.Id)).catch(() => undefined);
    await fsp.rm(dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.byId.values()) {
      c.watchAbort?.abort();
      c.session?.detach();
    }
    // The per-daemon cgroup parent goes when no container is left in it (rmdir fails otherwise).
    const roots = ['/sys/fs/cgroup'];
    for (const ent of await fsp.readdir('/sys/fs/cgroup', { withFileTypes: true }).catch(() => [])) {
      if (ent.isDirectory()) roots.push(path.join('/sys/fs/cgroup', ent.name));
    }
    await Promise.all(roots.map((r) => fsp.rmdir(path.join(r, this.cgroupParent)).catch(() => undefined)));
  }

  // ---------------------------------------------------------------- lookup

  private find(ref: string): Live {
    const c = this.tryFind(ref);
    if (!c) throw notFound(`No such container: ${ref}`);
    return c;
  }

  private tryFind(ref: string): Live | undefined {
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

  containersUsing(imageId: Digest): string[] {
    return [...this.byId.values()].filter((c) => c.rec.ImageID === imageId).map((c) => c.rec.Id);
  }

  counts(): { total: number; running: number; stopped: number } {
    let running = 0;
    for (const c of this.byId.values()) if (c.rec.State.Status === 'running') running++;
    return { total: this.byId.size, running, stopped: this.byId.size - running };
  }

  // ---------------------------------------------------------------- create

  async create(nameParam: string | undefined, body: unknown): Promise<{ Id: string; Warnings: string[] }> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('container config must be a JSON object');
    const create = body as CreateBody;
    if (typeof create.Image !== 'string' || create.Image === '') throw invalid('Config.Image must be given');
    if (create.HostConfig !== undefined && (typeof create.HostConfig !== 'object' || create.HostConfig === null)) {
      throw invalid('HostConfig must be an object');
    }
    const name = nameParam ? validateName(nameParam) : generateName((n) => this.byName.has(n));
    const taken = this.byName.get(name);
    if (taken) {
      throw conflict(
        `Conflict. The container name "/${name}" is already in use by container "${taken}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    const { record, config } = await this.o.images.resolve(create.Image);
    const image = imageRuntime(config);
    const args = resolveCommand(image, create);
    resolveWorkingDir(image, create);
    if (create.HostConfig?.Init === true) throw invalid('--init is not supported: berth has no init binary (docker-init) yet');

    const id = newContainerId();
    // Recheck: resolve() awaited, another create may have taken the name meanwhile.
    if (this.byName.has(name)) throw conflict(`Conflict. The container name "/${name}" is already in use.`);
    const hostname = create.Hostname || id.slice(0, 12);
    const rec: ContainerRecord = {
      version: 1,
      Id: id,
      Name: name,
      Created: new Date().toISOString(),
      Image: create.Image,
      ImageID: record.id,
      Create: create,
      Config: mergedConfig(create, image, config, hostname),
      Path: args[0] as string,
      Args: args.slice(1),
      State: { Status: 'created', Pid: 0, ExitCode: 0, Error: '', OOMKilled: false, StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME },
      RestartCount: 0,
    };
    const c = this.register(rec);
    try {
      const dir = this.dataDir(id);
      await fsp.mkdir(dir, { recursive: true, mode: 0o710 });
      await this.writeEtcFiles(dir, hostname, create.Domainname);
      await this.save(c);
    } catch (err) {
      this.byId.delete(id);
      this.byName.delete(name);
      await fsp.rm(this.dataDir(id), { recursive: true, force: true });
      throw err;
    }
    this.publish(c, 'create');
    return { Id: id, Warnings: [] };
  }

  private async writeEtcFiles(dir: string, hostname: string, domain: string | undefined): Promise<void> {
    const fqdn = domain ? `${hostname}.${domain} ${hostname}` : hostname;
    await atomicWrite(path.join(dir, 'hostname'), `${hostname}\n`, 0o644);
    await atomicWrite(
      path.join(dir, 'hosts'),
      `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${fqdn}\n`,
      0o644,
    );
    let resolv = '';
    try {
      const host = await fsp.readFile('/etc/resolv.conf', 'utf8');
      // Loopback resolvers (systemd-resolved's stub) are unreachable from a container's namespace.
      resolv = host
        .split('\n')
        .filter((l) => /^\s*(nameserver|search|domain|options)\s/.test(l) && !/^\s*nameserver\s+(127\.|::1)/.test(l))
        .join('\n');
    } catch {
      resolv = '';
    }
    await atomicWrite(path.join(dir, 'resolv.conf'), resolv ? `${resolv}\n` : '', 0o644);
  }

  // ---------------------------------------------------------------- start

  async start(ref: string): Promise<void> {
    const c = this.find(ref);
    if (c.removing) throw conflict(`container ${c.rec.Id} is being removed`);
    if (c.starting) return c.starting;
    if (c.rec.State.Status === 'running') throw new BerthError('notModified', 'container already started');
    c.starting = this.doStart(c).finally(() => (c.starting = undefined));
    return c.starting;
  }

  private async doStart(c: Live): Promise<void> {
    const id = c.rec.Id;
    const imageRec = this.o.images.db.image(c.rec.ImageID);
    if (!imageRec) throw notFound(`No such image: ${c.rec.ImageID}`);
    const imageCfg = await this.o.images.config(c.rec.ImageID);
    const image = imageRuntime(imageCfg);
    const create = c.rec.Create;
    const dataDir = this.dataDir(id);
    const execDir = this.execDir(id);
    const merged = this.merged(id);
    const lowers = chainIds(imageRec.diffIds)
      .map((ch) => this.o.images.layers.diffDir(ch))
      .reverse();
    await mountOverlay({ lowers, upper: path.join(dataDir, 'upper'), work: path.join(dataDir, 'work'), merged });
    try {
      const user = await resolveUser(merged, effectiveUser(image, create));
      await ensureWorkingDir(merged, resolveWorkingDir(image, create), { uid: user.uid, gid: user.gid });
      const spec = buildSpec({
        id,
        rootfs: merged,
        image,
        create,
        user,
        files: {
          hostname: path.join(dataDir, 'hostname'),
          hosts: path.join(dataDir, 'hosts'),
          resolvConf: path.join(dataDir, 'resolv.conf'),
        },
        host: await this.facts(),
        onWarning: (m) => this.o.log.warn('container spec adjusted', { id, warning: m }),
      });
      await fsp.rm(execDir, { recursive: true, force: true });
      await fsp.mkdir(execDir, { recursive: true, mode: 0o700 });
      await atomicWrite(path.join(execDir, 'config.json'), serializeSpec(spec));
      const started = await this.monitor.create({
        id,
        bundle: execDir,
        stateDir: execDir,
        runtime: this.runtime,
        runtimeRoot: path.join(this.o.execRoot, 'runc'),
        logPath: path.join(dataDir, 'container.log'),
        terminal: create.Tty === true,
        stdin: create.OpenStdin === true,
        // `-dit`: stdin must stay open when the daemon's own attach goes (restart, shutdown).
        leaveStdinOpen: create.OpenStdin === true && create.StdinOnce !== true,
      }).catch((err: unknown) => {
        // A bad command is the user's mistake (Docker answers 400; the CLI exits 127 or 126).
        if (isBerthError(err) && /executable file not found|no such file or directory|permission denied/i.test(err.message)) {
          throw new BerthError('invalid', err.message, { code: err.code });
        }
        throw err;
      });
      try {
        try {
          c.session = await this.monitor.attach(execDir);
          this.pump(c, c.session);
          for (const b of c.pendingStdin.splice(0)) c.session.stdin.write(b);
          if (c.pendingStdinEnd) c.session.stdin.end();
          c.pendingStdinEnd = false;
        } catch (err) {
          this.o.log.warn('could not attach to the container; output goes to its log only', { id, err: errorMessage(err) });
        }
        await this.monitor.startCreated(execDir);
      } catch (err) {
        c.session?.detach();
        c.session = undefined;
        await this.monitor.remove(execDir, { force: true }).catch(() => undefined);
        throw err;
      }
      c.rec.State = {
        Status: 'running',
        Pid: started.pid,
        ExitCode: 0,
        Error: '',
        OOMKilled: false,
        StartedAt: new Date().toISOString(),
        FinishedAt: ZERO_TIME,
      };
      await this.save(c);
    } catch (err) {
      await unmount(merged).catch(() => undefined);
      c.rec.State.Error = errorMessage(err);
      c.rec.State.ExitCode = 127;
      await this.save(c).catch(() => undefined);
      this.endSinks(c);
      if (c.rec.Create.HostConfig?.AutoRemove === true) {
        // Not awaited: removal waits for this start to settle.
        void this.removeLive(c, { force: true }).catch((e: unknown) =>
          this.o.log.error('auto-remove failed', { id, err: errorMessage(e) }),
        );
      }
      throw err;
    }
    this.publish(c, 'start');
    this.watch(c);
  }

  /** The daemon's own attach session: fans output out to attached clients. */
  private pump(c: Live, s: AttachSession): void {
    const tty = c.rec.Create.Tty === true;
    const send = (stream: OutputStream) => (b: Buffer) => {
      if (c.sinks.size === 0) return;
      const data = encodeOutput(tty, stream, b);
      for (const sink of c.sinks) sink.write(data);
    };
    s.stdout.on('data', send('stdout'));
    s.stderr.on('data', send('stderr'));
  }

  private endSinks(c: Live): void {
    for (const s of c.sinks) s.end();
    c.sinks.clear();
  }

  private watch(c: Live): void {
    const ac = new AbortController();
    c.watchAbort = ac;
    c.exitDone = this.monitor
      .waitExit(this.execDir(c.rec.Id), { signal: ac.signal, pollMs: 1000 })
      .then(
        async (code) => ({ code, oom: await this.monitor.oomKilled(this.execDir(c.rec.Id)).catch(() => false) }),
        (err: unknown) => {
          if (ac.signal.aborted) return undefined;
          this.o.log.warn('lost track of a container', { id: c.rec.Id, err: errorMessage(err) });
          return { code: 255, oom: false };
        },
      )
      .then(async (r) => {
        if (r && !this.closed) await this.finishExit(c, r.code, r.oom);
      })
      .catch((err: unknown) => this.o.log.error('processing a container exit failed', { id: c.rec.Id, err: errorMessage(err) }));
  }

  /** The container's process is gone: record it, release the runtime and the rootfs, tell waiters. */
  private async finishExit(c: Live, code: number, oom: boolean): Promise<void> {
    const id = c.rec.Id;
    const execDir = this.execDir(id);
    if (c.session) {
      // conmon closes the attach socket when the container exits; let the last output through.
      await Promise.race([c.session.closed, sleep(2000)]);
      c.session.detach();
      c.session = undefined;
    }
    this.endSinks(c);
    await this.monitor.remove(execDir, { force: true }).catch((err: unknown) => {
      if (!(isBerthError(err) && err.kind === 'notFound')) this.o.log.warn('runtime cleanup failed', { id, err: errorMessage(err) });
    });
    await unmount(this.merged(id)).catch((err: unknown) => this.o.log.warn('unmount failed', { id, err: errorMessage(err) }));
    c.rec.State = { ...c.rec.State, Status: 'exited', Pid: 0, ExitCode: code, OOMKilled: oom, FinishedAt: new Date().toISOString() };
    if (this.byId.has(id)) await this.save(c).catch(() => undefined);
    if (oom) this.publish(c, 'oom');
    this.publish(c, 'die', { exitCode: String(code) });
    for (const w of c.exitWaiters) w(code);
    c.exitWaiters.clear();
    if (c.rec.Create.HostConfig?.AutoRemove === true && !c.removing) {
      void this.removeLive(c, { force: true }).catch((err: unknown) =>
        this.o.log.error('auto-remove failed', { id, err: errorMessage(err) }),
      );
    }
  }

  // ---------------------------------------------------------------- stop, kill

  async stop(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const c = this.find(ref);
    if (c.starting) await c.starting.catch(() => undefined);
    if (c.rec.State.Status !== 'running') throw new BerthError('notModified', 'container already stopped');
    const image = imageRuntime(await this.o.images.config(c.rec.ImageID).catch(() => undefined));
    const sig = normalizeSignal(signal || effectiveStopSignal(image, c.rec.Create));
    const t = timeoutSec ?? (typeof c.rec.Create.StopTimeout === 'number' ? c.rec.Create.StopTimeout : 10);
    const done = c.exitDone ?? Promise.resolve();
    c.stopping = true;
    try {
      await this.signal(c, sig);
      const exited = await Promise.race([done.then(() => true), sleep(Math.max(0, t) * 1000).then(() => false)]);
      if (!exited) {
        await this.signal(c, 'SIGKILL');
        await done;
      }
    } finally {
      c.stopping = false;
    }
    this.publish(c, 'stop');
  }

  async kill(ref: string, signal?: string): Promise<void> {
    const c = this.find(ref);
    const sig = normalizeSignal(signal || 'SIGKILL');
    if (c.rec.State.Status !== 'running') throw conflict(`Cannot kill container: ${ref}: Container ${c.rec.Id} is not running`);
    await this.signal(c, sig);
  }

  private async signal(c: Live, sig: string): Promise<void> {
    const num = os.constants.signals[sig as NodeJS.Signals] ?? Number(sig);
    this.publish(c, 'kill', { signal: String(num) });
    try {
      await this.monitor.kill(this.execDir(c.rec.Id), sig as NodeJS.Signals);
    } catch (err) {
      if (isBerthError(err) && err.kind === 'conflict') return; // exited meanwhile
      throw err;
    }
  }

  /** `docker restart`: stop (if running), then start. */
  async restart(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const c = this.find(ref);
    try {
      await this.stop(c.rec.Id, timeoutSec, signal);
    } catch (err) {
      if (!(isBerthError(err) && err.kind === 'notModified')) throw err;
    }
    await this.start(c.rec.Id);
    this.publish(c, 'restart');
  }

  /** The TTY size of a running container (ignored by conmon without a TTY). */
  async resize(ref: string, height: number, width: number): Promise<void> {
    const c = this.find(ref);
    if (c.rec.State.Status !== 'running') throw conflict(`Container ${c.rec.Id} is not running`);
    await this.monitor.resize(this.execDir(c.rec.Id), height, width);
  }

  // ---------------------------------------------------------------- remove

  async remove(ref: string, opts: { force: boolean; volumes: boolean }): Promise<void> {
    const c = this.find(ref);
    if (c.removing) throw conflict(`removal of container ${c.rec.Id} is already in progress`);
    if ((c.rec.State.Status === 'running' || c.starting) && !opts.force) {
      throw conflict(
        `cannot remove container "/${c.rec.Name}": container is running: stop the container before removing or force remove`,
      );
    }
    await this.removeLive(c, { force: opts.force });
  }

  private removeLive(c: Live, opts: { force: boolean }): Promise<void> {
    c.removing ??= (async () => {
      const id = c.rec.Id;
      if (c.starting) await c.starting.catch(() => undefined);
      if (c.rec.State.Status === 'running' && opts.force) {
        await this.signal(c, 'SIGKILL').catch(() => undefined);
        await c.exitDone;
      }
      const execDir = this.execDir(id);
      await this.monitor.remove(execDir, { force: true }).catch(() => undefined);
      await unmount(this.merged(id));
      this.byId.delete(id);
      this.byName.delete(c.rec.Name);
      await fsp.rm(execDir, { recursive: true, force: true });
      await fsp.rm(this.dataDir(id), { recursive: true, force: true });
      this.publish(c, 'destroy');
      for (const w of [...c.removeWaiters, ...c.exitWaiters]) w(c.rec.State.ExitCode);
      c.removeWaiters.clear();
      c.exitWaiters.clear();
      this.endSinks(c);
    })();
    return c.removing;
  }

  /** Removes every container that is not running (`docker container prune`). */
  async prune(): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    for (const c of [...this.byId.values()]) {
      if (c.rec.State.Status === 'running' || c.starting || c.removing) continue;
      await this.removeLive(c, { force: false });
      deleted.push(c.rec.Id);
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: 0 };
  }

  // ---------------------------------------------------------------- wait

  /** Validates and registers a wait; `result` settles with the exit code. */
  wait(ref: string, condition: WaitCondition, signal?: AbortSignal): { result: Promise<number> } {
    const c = this.find(ref);
    const status = c.rec.State.Status;
    if (condition === 'not-running' && status !== 'running' && !c.starting) {
      return { result: Promise.resolve(c.rec.State.ExitCode) };
    }
    const set = condition === 'removed' ? c.removeWaiters : c.exitWaiters;
    const result = new Promise<number>((resolve, reject) => {
      const w = (code: number): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(code);
      };
      const onAbort = (): void => {
        set.delete(w);
        reject(new Error('client went away'));
      };
      set.add(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return { result };
  }

  // ---------------------------------------------------------------- attach, logs

  /**
   * Attaches a client. `open` is called once the request is known to be good (so errors can
   * still be plain HTTP errors) and returns the sink for the output.
   */
  async attach(
    ref: string,
    opts: AttachOptions,
    open: (tty: boolean) => AttachSink,
  ): Promise<{ detach(): void; stdin?: Writable; stdinOnce: boolean }> {
    const c = this.find(ref);
    const tty = c.rec.Create.Tty === true;
    const raw = open(tty);
    const filtered: AttachSink = tty
      ? raw
      : {
          write: (d) => {
            const stream = d[0] === 1 ? opts.stdout : opts.stderr;
            if (stream) raw.write(d);
          },
          end: () => raw.end(),
        };
    if (opts.logs) {
      for await (const chunk of this.logChunks(c, { stdout: opts.stdout, stderr: opts.stderr, follow: false, timestamps: false })) {
        raw.write(chunk);
      }
    }
    // A stopped container may be started next (`docker start -a` attaches first): keep listening.
    if (!opts.stream || c.removing) {
      raw.end();
      return { detach: () => undefined, stdinOnce: false };
    }
    c.sinks.add(filtered);
    const stdin = opts.stdin && c.rec.Create.OpenStdin === true ? this.stdinFor(c) : undefined;
    return {
      detach: () => {
        if (c.sinks.delete(filtered)) filtered.end();
      },
      ...(stdin ? { stdin } : {}),
      stdinOnce: c.rec.Create.StdinOnce === true,
    };
  }

  /** A client's stdin: straight to the daemon's attach session, or held until the container starts. */
  private stdinFor(c: Live): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (c.session) c.session.stdin.write(chunk, () => cb());
        else {
          c.pendingStdin.push(chunk);
          cb();
        }
      },
      final: (cb) => {
        if (c.session) c.session.stdin.end();
        else c.pendingStdinEnd = true;
        cb();
      },
    });
  }

  async *logs(ref: string, opts: LogsOptions): AsyncGenerator<Buffer> {
    const c = this.find(ref);
    yield* this.logChunks(c, opts);
  }

  isTty(ref: string): boolean {
    return this.find(ref).rec.Create.Tty === true;
  }

  private async *logChunks(c: Live, opts: LogsOptions): AsyncGenerator<Buffer> {
    const logPath = path.join(this.dataDir(c.rec.Id), 'container.log');
    const tty = c.rec.Create.Tty === true;
    const sinceNs = opts.since ? BigInt(Math.floor(opts.since * 1e9)) : undefined;
    const untilNs = opts.until ? BigInt(Math.floor(opts.until * 1e9)) : undefined;
    const wanted = (e: LogEntry): boolean =>
      (e.stream === 'stdout' ? opts.stdout : opts.stderr) &&
      (sinceNs === undefined || e.timeNs >= sinceNs) &&
      (untilNs === undefined || e.timeNs <= untilNs);
    const encode = (e: LogEntry): Buffer => {
      const line = e.partial ? e.line : Buffer.concat([e.line, Buffer.from('\n')]);
      const data = opts.timestamps ? Buffer.concat([Buffer.from(`${formatLogTime(e.timeNs)} `), line]) : line;
      return encodeOutput(tty, e.stream, data);
    };
    const readAll = async (): Promise<LogEntry[]> => {
      const out: LogEntry[] = [];
      if (!existsSync(logPath)) return out;
      try {
        for await (const e of this.monitor.readLog(logPath, opts.signal ? { signal: opts.signal } : {})) out.push(e);
      } catch (err) {
        if (opts.signal?.aborted) return out;
        throw err;
      }
      return out;
    };
    let entries = await readAll();
    let complete = entries.filter((e) => !e.partial).length;
    let initial = opts.follow ? entries.slice(0, complete) : entries;
    initial = initial.filter(wanted);
    if (opts.tail !== undefined) initial = opts.tail <= 0 ? [] : initial.slice(-opts.tail);
    for (const e of initial) yield encode(e);
    if (!opts.follow) return;
    for (;;) {
      const running = c.rec.State.Status === 'running' || c.starting !== undefined;
      if (opts.signal?.aborted) return;
      if (running) await sleep(200);
      entries = await readAll();
      const nowComplete = entries.filter((e) => !e.partial);
      const fresh = running ? nowComplete.slice(complete) : entries.slice(complete);
      complete = nowComplete.length;
      for (const e of fresh) if (wanted(e)) yield encode(e);
      if (!running || !this.byId.has(c.rec.Id)) return;
    }
  }

  // ---------------------------------------------------------------- views

  list(opts: { all: boolean; limit?: number; filters: Record<string, string[]> }): unknown[] {
    let cs = [...this.byId.values()].map((c) => c.rec);
    if (!opts.all) cs = cs.filter((r) => r.State.Status === 'running');
    const f = opts.filters;
    if (f['id']) cs = cs.filter((r) => f['id']?.some((v) => r.Id.startsWith(v)));
    if (f['name']) cs = cs.filter((r) => f['name']?.some((v) => r.Name.includes(v.replace(/^\//, ''))));
    if (f['status']) cs = cs.filter((r) => f['status']?.includes(r.State.Status));
    if (f['label']) {
      cs = cs.filter((r) => {
        const labels = (r.Config['Labels'] ?? {}) as Record<string, string>;
        return f['label']?.every((l) => {
          const i = l.indexOf('=');
          return i < 0 ? l in labels : labels[l.slice(0, i)] === l.slice(i + 1);
        });
      });
    }
    cs.sort((a, b) => (a.Created < b.Created ? 1 : a.Created > b.Created ? -1 : 0));
    if (opts.limit !== undefined && opts.limit > 0) cs = cs.slice(0, opts.limit);
    return cs.map((r) => ({
      Id: r.Id,
      Names: [`/${r.Name}`],
      Image: r.Image,
      ImageID: r.ImageID,
      Command: [r.Path, ...r.Args].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' '),
      Created: Math.floor(Date.parse(r.Created) / 1000),
      Ports: [],
      Labels: r.Config['Labels'] ?? {},
      State: r.State.Status,
      Status: statusText(r),
      HostConfig: { NetworkMode: (r.Create.HostConfig?.['NetworkMode'] as string | undefined) || 'none' },
      NetworkSettings: { Networks: {} },
      Mounts: [],
    }));
  }

  inspect(ref: string): Record<string, unknown> {
    const c = this.find(ref);
    const r = c.rec;
    const st = r.State;
    const dataDir = this.dataDir(r.Id);
    return {
      Id: r.Id,
      Created: r.Created,
      Path: r.Path,
      Args: r.Args,
      State: {
        Status: st.Status,
        Running: st.Status === 'running',
        Paused: false,
        Restarting: false,
        OOMKilled: st.OOMKilled,
        Dead: st.Status === 'dead',
        Pid: st.Pid,
        ExitCode: st.ExitCode,
        Error: st.Error,
        StartedAt: st.StartedAt,
        FinishedAt: st.FinishedAt,
      },
      Image: r.ImageID,
      ResolvConfPath: path.join(dataDir, 'resolv.conf'),
      HostnamePath: path.join(dataDir, 'hostname'),
      HostsPath: path.join(dataDir, 'hosts'),
      LogPath: path.join(dataDir, 'container.log'),
      Name: `/${r.Name}`,
      RestartCount: r.RestartCount,
      Driver: 'overlay2',
      Platform: 'linux',
      MountLabel: '',
      ProcessLabel: '',
      AppArmorProfile: '',
      ExecIDs: null,
      HostConfig: hostConfigView(r),
      GraphDriver: {
        Name: 'overlay2',
        Data: {
          MergedDir: this.merged(r.Id),
          UpperDir: path.join(dataDir, 'upper'),
          WorkDir: path.join(dataDir, 'work'),
        },
      },
      Mounts: [],
      Config: r.Config,
      NetworkSettings: {
        Bridge: '',
        SandboxID: '',
        SandboxKey: '',
        Ports: {},
        HairpinMode: false,
        LinkLocalIPv6Address: '',
        LinkLocalIPv6PrefixLen: 0,
        SecondaryIPAddresses: null,
        SecondaryIPv6Addresses: null,
        EndpointID: '',
        Gateway: '',
        GlobalIPv6Address: '',
        GlobalIPv6PrefixLen: 0,
        IPAddress: '',
        IPPrefixLen: 0,
        IPv6Gateway: '',
        MacAddress: '',
        Networks: {},
      },
    };
  }

  private publish(c: Live, action: string, extra: Record<string, string> = {}): void {
    const labels = (c.rec.Config['Labels'] ?? {}) as Record<string, string>;
    this.o.events.publish('container', action, c.rec.Id, { ...labels, image: c.rec.Image, name: c.rec.Name, ...extra });
  }
}

// ------------------------------------------------------------------ helpers

function imageRuntime(cfg: ImageConfig | undefined): ImageRuntimeConfig {
  const c = cfg?.config ?? {};
  return { Env: c.Env, Cmd: c.Cmd, Entrypoint: c.Entrypoint, WorkingDir: c.WorkingDir, User: c.User, StopSignal: c.StopSignal };
}

function strList(v: string[] | string | null | undefined): string[] | undefined {
  if (v === null || v === undefined) return undefined;
  return typeof v === 'string' ? [v] : v;
}

/** Config as `docker inspect` shows it: the create body over the image's config. */
function mergedConfig(create: CreateBody, image: ImageRuntimeConfig, cfg: ImageConfig, hostname: string): Record<string, unknown> {
  const createEnv = create.Env ?? [];
  const keys = new Set(createEnv.map((e) => e.split('=')[0]));
  const env = [...createEnv, ...(image.Env ?? []).filter((e) => !keys.has(e.split('=')[0]))];
  const userEp = strList(create.Entrypoint);
  const userCmd = strList(create.Cmd);
  let entrypoint: string[] | null;
  let cmd: string[] | null;
  if (userEp !== undefined && userEp.length > 0) {
    entrypoint = userEp;
    cmd = userCmd ?? null;
  } else {
    entrypoint = userEp !== undefined ? null : (strList(image.Entrypoint) ?? null);
    cmd = userCmd !== undefined && userCmd.length > 0 ? userCmd : (strList(image.Cmd) ?? null);
  }
  return {
    Hostname: hostname,
    Domainname: create.Domainname ?? '',
    User: create.User || image.User || '',
    AttachStdin: create.AttachStdin ?? false,
    AttachStdout: create.AttachStdout ?? false,
    AttachStderr: create.AttachStderr ?? false,
    Tty: create.Tty ?? false,
    OpenStdin: create.OpenStdin ?? false,
    StdinOnce: create.StdinOnce ?? false,
    Env: env,
    Cmd: cmd,
    Image: create.Image,
    Volumes: create['Volumes'] ?? null,
    WorkingDir: create.WorkingDir || image.WorkingDir || '',
    Entrypoint: entrypoint,
    OnBuild: null,
    Labels: { ...(cfg.config?.Labels ?? {}), ...(create.Labels ?? {}) },
    ...(create.StopSignal || image.StopSignal ? { StopSignal: create.StopSignal || image.StopSignal } : {}),
    ...(typeof create.StopTimeout === 'number' ? { StopTimeout: create.StopTimeout } : {}),
  };
}

function hostConfigView(r: ContainerRecord): Record<string, unknown> {
  const hc = r.Create.HostConfig ?? {};
  return {
    Binds: null,
    NetworkMode: 'none',
    PortBindings: {},
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    VolumeDriver: '',
    VolumesFrom: null,
    CapAdd: null,
    CapDrop: null,
    Dns: [],
    DnsOptions: [],
    DnsSearch: [],
    ExtraHosts: null,
    IpcMode: 'private',
    Privileged: false,
    PublishAllPorts: false,
    ReadonlyRootfs: false,
    SecurityOpt: null,
    ShmSize: 64 * 1024 * 1024,
    Runtime: 'runc',
    LogConfig: { Type: 'k8s-file', Config: {} },
    ...hc,
    AutoRemove: hc.AutoRemove === true,
  };
}

function statusText(r: ContainerRecord): string {
  const st = r.State;
  switch (st.Status) {
    case 'running':
      return `Up ${humanDuration(Date.now() - Date.parse(st.StartedAt))}`;
    case 'exited':
      if (st.FinishedAt === ZERO_TIME) return 'Created';
      return `Exited (${st.ExitCode}) ${humanDuration(Date.now() - Date.parse(st.FinishedAt))} ago`;
    case 'created':
      return 'Created';
    case 'removing':
      return 'Removal In Progress';
    default:
      return 'Dead';
  }
}

/** Docker's units.HumanDuration. */
function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.round(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.round(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.round(h / 24 / 30)} months`;
  return `${Math.round(h / 24 / 365)} years`;
}

/** "KILL", "SIGKILL", "9" → the name runc and os.constants use; 400 for anything else. */
export function normalizeSignal(s: string): string {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    const name = Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0];
    if (!name) throw invalid(`Invalid signal: ${s}`);
    return name;
  }
  const up = s.toUpperCase();
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  if (!(name in os.constants.signals)) throw invalid(`Invalid signal: ${s}`);
  return name;
}

