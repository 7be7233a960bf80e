/**
 * Containers: the ContainerService the API layer uses. It orchestrates each container's
 * lifecycle: create (validation, record, etc files), start (overlay rootfs, OCI spec, the conmon
 * monitor, the daemon's own attach), exit processing, stop/kill/restart/resize, rm/prune, wait,
 * and start-up reconciliation with what conmon's files say (containers outlive the daemon).
 * Each container's files are laid out as records.ts describes; runc's own state goes under
 * <exec-root>/runc/ (runc --root).
 *
 * The daemon attaches itself to every container it starts (before `runc start`, so nothing is
 * missed) and fans the output out to attached API clients.
 *
 * The rest lives beside it: records.ts (records on disk, paths, lookup), create-config.ts (what
 * create derives from body and image), sessions.ts (attach fan-out to clients), logs.ts (docker
 * logs from the k8s-file log) and views.ts (inspect and list shapes).
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chainIds, type Digest } from '../common/digest.js';
import { BerthError, conflict, errorMessage, invalid, isBerthError, notFound } from '../common/errors.js';
import { atomicWrite, diskUsage } from '../common/fsutil.js';
import { parsePruneFilters, prunable } from '../common/prune-filters.js';
import type { Logger } from '../common/log.js';
import { traceStage } from '../common/trace.js';
import type { EventBus } from '../events/bus.js';
import type { ImageService } from '../images/service.js';
import type { ContainerConfig } from '../images/config.js';
import { ConmonMonitor } from '../runtime/monitor.js';
import type { ContainerCreateRequest, ContainerInspect, ContainerUpdateRequest, EndpointSettings } from '../../types/engine-api.js';
import { buildSpec, probeHostFacts, resolveWorkingDir, serializeSpec } from '../runtime/spec.js';
import type { RuntimeInfo } from '../runtime/detect.js';
import type { HostFacts } from '../runtime/types.js';
import { ensureWorkingDir, resolveGroupAdd, resolveUser } from '../runtime/user.js';
import { resolveDevices } from '../runtime/devices.js';
import { seccompProvider } from '../runtime/seccomp.js';
import { mergeUpdate } from './limits.js';
import { planCreate, recordOf, runtimeProcess, type DaemonDefaults } from './create-plan.js';
import { connectedNetworks, dropLegacyLink, listPorts, networkSettingsView, prepareStart, recordConnect, recordDisconnect, settleNetwork, type ContainerLookup } from './networking.js';
import type { NetworkService } from '../network/service.js';
import type { ExecTarget } from './exec.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { logChunks } from './logs.js';
import { sampleStats } from './stats.js';
import { HealthMonitor, type ProbeRunner } from './health.js';
import { generateName, newContainerId, validateName } from './names.js';
import { ContainerRecords, type LiveContainer } from './records.js';
import { nextRestartDelay, shouldRestartAfterExit, shouldStartWithDaemon, validateRestartPolicy } from './restart.js';
import { keepsNoLogs, LogRotator, resolveLogConfig, type LogConfig, type LogLimits } from './logrotate.js';
import type { ContainerFsHost, ContainerFsInfo } from './files.js';
import { RootfsMounts, unmount, type OverlayDirs } from './rootfs.js';
import { removeContainerDir } from './teardown.js';
import { planMounts, type MountPlanHost } from './mounts.js';
import { attachMounts, detachMounts, type ContainerVolumes } from './volume-mounts.js';
import { releaseSubpaths } from './subpath.js';
import { attachClient, endSinks, flushPendingStdin, pump, type ClientAttachment } from './sessions.js';
import {
  ZERO_TIME,
  type AttachOptions,
  type AttachSink,
  type LogsOptions,
  type WaitCondition,
} from './types.js';
import { inspectView, listView, type ListOptions, type NetView } from './views.js';


export interface ContainerServiceOptions {
  dataRoot: string;
  execRoot: string;
  images: ImageService;
  events: EventBus;
  log: Logger;
  /** The OCI runtimes by name (detect.ts) and the one containers get unless HostConfig.Runtime names another. */
  runtimes: Record<string, RuntimeInfo>;
  defaultRuntime: string;
  conmon?: string;
  /** The daemon's --log-driver/--log-opt: what containers get unless they say otherwise. */
  logDefaults?: LogConfig;
  network: NetworkService;
  /** false with --bridge none: containers without a network mode get "none". */
  defaultBridge?: boolean;
  /** Volumes for binds, named and anonymous volumes (mounts.ts, volume-mounts.ts). */
  volumes: ContainerVolumes;
  /** Runs HEALTHCHECK probes in running containers (the daemon wires the exec manager in). */
  healthProbes: ProbeRunner;
  /** The static init binary (docker-init, i.e. tini) for HostConfig.Init; absent: none installed. */
  initPath?: string;
  /** The daemon's --init: containers that do not say get an init. */
  init?: boolean;
}

/** How long a SIGKILL waits for the container's exit to be recorded (dockerd: 10 s). */
const KILL_EXIT_WAIT_MS = 10_000;
const DEFAULT_LOG_CONFIG: LogConfig = { Type: 'json-file', Config: {} };

export class ContainerService {
  private readonly records: ContainerRecords;
  private readonly monitor: ConmonMonitor;
  private readonly cgroupParent: string;
  private hostFacts?: Promise<HostFacts>;
  private closed = false;
  /** Rootfs mounts, held by running containers and by cp/export (refcounted). */
  private readonly mounts = new RootfsMounts();
  /** Docker's default seccomp profile, or a container's own (SecurityOpt seccomp=<json>). */
  private readonly seccomp = seccompProvider();
  /** HEALTHCHECK probing of running containers (health.ts); State.Health lives in the records. */
  private readonly health: HealthMonitor;
  /** What create plans with: the daemon's log driver, runtimes, init binary, default bridge. */
  private readonly defaults: DaemonDefaults;

  constructor(private readonly o: ContainerServiceOptions) {
    this.records = new ContainerRecords(o.dataRoot, o.execRoot);
    this.monitor = new ConmonMonitor(o.conmon ? { conmonPath: o.conmon } : {});
    const hash = createHash('sha256').update(path.resolve(o.dataRoot)).digest('hex').slice(0, 12);
    this.cgroupParent = `/berth-${hash}`;
    this.defaults = {
      logConfig: o.logDefaults ?? DEFAULT_LOG_CONFIG,
      runtimes: o.runtimes,
      defaultRuntime: o.defaultRuntime,
      ...(o.initPath ? { initPath: o.initPath } : {}),
      defaultBridge: o.defaultBridge !== false,
      hostname: os.hostname(),
    };
    this.health = new HealthMonitor({
      runner: o.healthProbes,
      log: o.log,
      host: {
        save: async (id) => {
          const c = this.records.byId.get(id);
          if (c && !c.removing) await this.records.save(c);
        },
        publish: (id, action) => {
          const c = this.records.byId.get(id);
          if (c) this.publish(c, action);
        },
      },
    });
  }

  // ---------------------------------------------------------------- host facts

  private usableRuntime(name: string): RuntimeInfo {
    const info = this.o.runtimes[name];
    if (!info) throw invalid(`unknown or invalid runtime name: ${name}`);
    if (info.unusable) throw invalid(`runtime ${name} cannot run containers on this host: ${info.unusable}`);
    return info;
  }

  private get logDefaults(): LogConfig {
    return this.o.logDefaults ?? DEFAULT_LOG_CONFIG;
  }

  private logLimits(c: LiveContainer): LogLimits {
    try {
      return resolveLogConfig(c.rec.HostConfig.LogConfig, this.logDefaults).limits;
    } catch {
      return { maxFile: 1 }; // a record from before the daemon's options changed: no limits
    }
  }

  /** Starts keeping the rotated log files of a running container (when it asks for more than one). */
  private async startRotator(c: LiveContainer): Promise<void> {
    const limits = this.logLimits(c);
    if (limits.maxSize === undefined || limits.maxFile <= 1 || c.rotator) return;
    c.rotator = new LogRotator(this.records.logPath(c.rec.Id), limits.maxFile, this.o.log);
    await c.rotator.start();
  }

  private facts(): Promise<HostFacts> {
    return (this.hostFacts ??= probeHostFacts({ cgroupParent: this.cgroupParent }));
  }

  // ---------------------------------------------------------------- start-up

  /** Loads every record and reconciles running ones with their monitors. */
  async init(): Promise<void> {
    await this.records.ensureDirs();
    void this.facts().catch(() => undefined);
    for await (const rec of this.records.load(this.o.log)) {
      const c = this.records.register(rec);
      if (rec.State.Status === 'running' || rec.State.Status === 'removing') await this.reconcile(c);
      else if (rec.State.Status === 'created') await this.dropHalfStarted(c);
      else if (rec.State.Status === 'restarting') {
        // The daemon stopped during a policy's backoff: the start below picks it up.
        rec.State.Status = 'exited';
        await this.records.save(c);
      }
    }
    // Restart policies also apply across daemon restarts (and host reboots): start what they ask
    // for, in the background, like a daemon that has just come up.
    for (const c of this.records.byId.values()) {
      if (c.rec.State.Status === 'exited' && !c.removing && shouldStartWithDaemon(c.rec)) {
        void this.policyStart(c, 'the daemon started');
      }
    }
  }

  private async reconcile(c: LiveContainer): Promise<void> {
    const dir = this.records.execDir(c.rec.Id);
    try {
      const st = await this.monitor.state(dir);
      if (st.status === 'running') {
        c.rec.State.Status = 'running';
        if (st.pid) c.rec.State.Pid = st.pid;
        this.mounts.adopt(c.rec.Id);
        for (const m of c.rec.MountPoints ?? []) {
          if (m.Type === 'volume' && m.Name) await this.o.volumes.adopt(m.Name, { container: c.rec.Id, destination: m.Destination });
        }
        c.session = await this.monitor.attach(dir).catch(() => undefined);
        if (c.session) pump(c, c.session);
        await this.startRotator(c);
        this.watch(c);
        if (!c.rec.State.Paused) this.health.resume(c.rec);
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
  private async dropHalfStarted(c: LiveContainer): Promise<void> {
    const dir = this.records.execDir(c.rec.Id);
    if (!existsSync(path.join(dir, 'monitor.json'))) return;
    this.o.log.warn('removing a container start that was interrupted', { id: c.rec.Id });
    await this.monitor.remove(dir, { force: true }).catch(() => undefined);
    await unmount(this.records.merged(c.rec.Id)).catch(() => undefined);
    await fsp.rm(dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.health.close();
    for (const c of this.records.byId.values()) {
      clearTimeout(c.restartTimer);
      void c.rotator?.stop();
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

  private find(ref: string): LiveContainer {
    return this.records.find(ref);
  }

  /** What networking.ts may see of containers. */
  private readonly lookup: ContainerLookup & { runningPid(id: string): number | undefined } = {
    find: (ref) => this.find(ref).rec,
    dataDir: (id) => this.records.dataDir(id),
    runningPid: (id) => {
      const c = this.records.byId.get(id);
      return c && c.rec.State.Status === 'running' && c.rec.State.Pid > 0 ? c.rec.State.Pid : undefined;
    },
  };

  private readonly netView: NetView = {
    settings: (r) => networkSettingsView(r, this.o.network),
    ports: (r) => listPorts(r, this.o.network) as ReturnType<NetView['ports']>,
  };

  /** Whether a container's process runs or is being started (its network sandbox is in use). */
  isLive(id: string): boolean {
    const c = this.records.byId.get(id);
    return c !== undefined && (c.rec.State.Status === 'running' || c.starting !== undefined);
  }

  containersUsing(imageId: Digest): string[] {
    return [...this.records.byId.values()].filter((c) => c.rec.ImageID === imageId).map((c) => c.rec.Id);
  }

  /** Containers (running or not) whose mounts name the volume: it cannot be removed while there are any. */
  containersUsingVolume(name: string): string[] {
    return [...this.records.byId.values()].filter((c) => c.rec.MountPoints?.some((m) => m.Type === 'volume' && m.Name === name)).map((c) => c.rec.Id);
  }

  /** What mount planning needs: other containers' mounts (VolumesFrom) and the volumes. */
  private readonly mountPlanHost: MountPlanHost = {
    mountsOf: (ref) => this.find(ref).rec.MountPoints ?? [],
    volumeExists: (name) => this.o.volumes.exists(name),
    checkVolume: (req) => this.o.volumes.check(req),
    volumePath: (name) => this.o.volumes.dataPath(name),
  };

  counts(): { total: number; running: number; paused: number; stopped: number } {
    let running = 0;
    let paused = 0;
    for (const c of this.records.byId.values()) {
      if (c.rec.State.Status !== 'running') continue;
      if (c.rec.State.Paused) paused++;
      else running++;
    }
    return { total: this.records.byId.size, running, paused, stopped: this.records.byId.size - running - paused };
  }

  // ---------------------------------------------------------------- create

  /**
   * `docker create`: the decoded request is planned (create-plan.ts, pure), settled against the
   * networks, containers and volumes that exist, then persisted. Nothing is written before the
   * whole request is known to be good; a failure while persisting removes what was made.
   */
  async create(nameParam: string | undefined, req: ContainerCreateRequest, opts: { apiVersion?: string } = {}): Promise<{ Id: string; Warnings: string[] }> {
    if (!req.Image) throw invalid('Config.Image must be given');
    const name = nameParam ? validateName(nameParam) : generateName((n) => this.records.byName.has(n));
    const taken = this.records.byName.get(name);
    if (taken) {
      throw conflict(
        `Conflict. The container name "/${name}" is already in use by container "${taken}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    const { record, config } = await this.o.images.resolve(req.Image);
    const id = newContainerId();
    const plan = planCreate({ id, request: req, image: config.config, daemon: this.defaults, host: await this.facts(), ...(opts.apiVersion ? { apiVersion: opts.apiVersion } : {}) });
    await resolveDevices(plan.HostConfig.Devices);
    const net = settleNetwork(plan.HostConfig, plan.Endpoints, plan.Config.ExposedPorts, this.o.network, this.lookup);
    const mountPlan = await planMounts(plan.HostConfig, Object.keys(plan.Config.Volumes ?? {}), this.mountPlanHost);

    // Recheck: resolve() awaited, another create may have taken the name meanwhile.
    if (this.records.byName.has(name)) throw conflict(`Conflict. The container name "/${name}" is already in use.`);
    const rec = recordOf(plan, { id, name, created: new Date().toISOString(), image: req.Image, imageId: record.id, network: net, mounts: mountPlan.mounts });
    // Registered before its volumes exist, so they are in use (safe from prune) from the start.
    const c = this.records.register(rec);
    const made: string[] = [];
    try {
      for (const v of mountPlan.volumes) {
        await this.o.volumes.create(v.request, { anonymous: v.anonymous });
        if (v.anonymous) made.push(v.request.Name);
      }
      const dir = this.records.dataDir(id);
      await fsp.mkdir(dir, { recursive: true, mode: 0o710 });
      // The container's own layer exists from create on (as in Docker): commit, diff and export of a container that never ran see it empty.
      await fsp.mkdir(path.join(dir, 'upper'), { mode: 0o755 });
      await this.records.save(c);
    } catch (err) {
      this.records.byId.delete(id);
      this.records.byName.delete(name);
      await fsp.rm(this.records.dataDir(id), { recursive: true, force: true });
      for (const v of made) await this.o.volumes.removeAnonymous(v).catch(() => undefined);
      throw err;
    }
    for (const w of plan.Warnings) this.o.log.warn('container create adjusted', { id, warning: w });
    this.publish(c, 'create');
    return { Id: id, Warnings: plan.Warnings };
  }

  // ---------------------------------------------------------------- start

  async start(ref: string): Promise<void> {
    const c = this.find(ref);
    if (c.removing) throw conflict(`container ${c.rec.Id} is being removed`);
    if (c.starting) return c.starting;
    if (c.rec.State.Status === 'running') throw new BerthError('notModified', 'container already started');
    // A user's start ends a manual stop and any backoff in progress.
    this.cancelRestart(c);
    c.rec.HasBeenManuallyStopped = false;
    c.restartDelayMs = 0;
    c.starting = this.doStart(c).finally(() => (c.starting = undefined));
    return c.starting;
  }

  /** A start a restart policy asked for (after an exit, or when the daemon starts). */
  private async policyStart(c: LiveContainer, why: string): Promise<void> {
    if (c.starting || c.removing || this.closed || !this.records.byId.has(c.rec.Id)) return;
    c.rec.RestartCount++;
    this.o.log.info('restarting a container by its restart policy', { id: c.rec.Id, why, restartCount: c.rec.RestartCount });
    c.starting = this.doStart(c).finally(() => (c.starting = undefined));
    try {
      await c.starting;
    } catch (err) {
      // As in Docker: a failed policy start ends the policy's attempts until the next start.
      this.o.log.error('restart policy could not start the container', { id: c.rec.Id, err: errorMessage(err) });
      c.rec.State.Status = 'exited';
      await this.records.save(c).catch(() => undefined);
    }
  }

  private cancelRestart(c: LiveContainer): boolean {
    if (!c.restartTimer) return false;
    clearTimeout(c.restartTimer);
    c.restartTimer = undefined;
    return true;
  }

  private async doStart(c: LiveContainer): Promise<void> {
    const id = c.rec.Id;
    traceStage(id, 'start');
    const imageRec = this.o.images.record(c.rec.ImageID);
    if (!imageRec) throw notFound(`No such image: ${c.rec.ImageID}`);
    const rec = c.rec;
    const execDir = this.records.execDir(id);
    const merged = this.records.merged(id);
    const subpathDir = path.join(this.o.execRoot, 'subpaths', id);
    // The network sandbox (netns, veth, addresses: a few tool runs) does not depend on the
    // rootfs: it is set up while the overlay is mounted and the user resolved.
    const netReady = prepareStart(c.rec, this.o.network, this.lookup);
    netReady.catch(() => undefined); // awaited below, or settled by dropNetwork
    const dropNetwork = async (): Promise<void> => {
      const n = await netReady.catch(() => undefined);
      if (n?.sandbox) await this.o.network.teardown(id).catch(() => undefined);
    };
    try {
      await this.mounts.acquire(id, this.overlayDirs(c));
    } catch (err) {
      await dropNetwork();
      throw err;
    }
    traceStage(id, 'start:rootfs-mounted');
    let sandbox = false;
    let volumesHeld = false;
    try {
      const user = await resolveUser(merged, rec.Config.User);
      const groups = await resolveGroupAdd(merged, rec.HostConfig.GroupAdd);
      const proc = runtimeProcess(rec);
      await ensureWorkingDir(merged, resolveWorkingDir(proc.image, proc.create), { uid: user.uid, gid: user.gid });
      const copyPending = rec.MountPoints.some((m) => m.CopyUp);
      const mounts = await attachMounts(id, merged, rec.MountPoints, this.o.volumes, subpathDir);
      volumesHeld = true;
      if (copyPending) await this.records.save(c);
      traceStage(id, 'start:user-and-volumes');
      const net = await netReady;
      sandbox = net.sandbox;
      traceStage(id, 'start:network');
      const wantInit = rec.HostConfig.Init ?? this.o.init === true;
      if (wantInit && this.o.initPath === undefined) throw invalid('--init needs an init binary and this daemon has none');
      const initPath = wantInit ? this.o.initPath : undefined;
      const spec = buildSpec({
        id,
        rootfs: merged,
        image: proc.image,
        create: net.env.length > 0 ? { ...proc.create, Env: [...net.env, ...(proc.create.Env ?? [])] } : proc.create,
        user: { ...user, additionalGids: [...new Set([...user.additionalGids, ...groups])] },
        files: net.files,
        ...(net.netnsPath !== undefined ? { netnsPath: net.netnsPath } : {}),
        ...(net.hostNetwork ? { hostNetwork: true } : {}),
        mounts,
        host: await this.facts(),
        devices: await resolveDevices(rec.HostConfig.Devices),
        seccomp: this.seccomp,
        ...(initPath !== undefined ? { initPath } : {}),
        onWarning: (m) => this.o.log.warn('container spec adjusted', { id, warning: m }),
      });
      const logMaxSize = this.logLimits(c).maxSize;
      const runtimeName = rec.HostConfig.Runtime || this.o.defaultRuntime;
      const runtime = this.usableRuntime(runtimeName);
      await fsp.rm(execDir, { recursive: true, force: true });
      await fsp.mkdir(execDir, { recursive: true, mode: 0o700 });
      await atomicWrite(path.join(execDir, 'config.json'), serializeSpec(spec), 0o600, { durable: false });
      traceStage(id, 'start:spec-written');
      const started = await this.monitor.create({
        id,
        bundle: execDir,
        stateDir: execDir,
        runtime: runtime.path,
        runtimeRoot: path.join(this.o.execRoot, runtimeName),
        logPath: this.records.logPath(id),
        ...(logMaxSize !== undefined ? { logMaxSize } : {}),
        ...(keepsNoLogs(rec.HostConfig.LogConfig) ? { noLog: true } : {}),
        terminal: rec.Config.Tty === true,
        stdin: rec.Config.OpenStdin === true,
        // `-dit`: stdin must stay open when the daemon's own attach goes (restart, shutdown).
        leaveStdinOpen: rec.Config.OpenStdin === true && rec.Config.StdinOnce !== true,
      }).catch((err: unknown) => {
        // A bad command is the user's mistake (Docker answers 400; the CLI exits 127 or 126).
        if (isBerthError(err) && /executable file not found|no such file or directory|permission denied/i.test(err.message)) {
          throw new BerthError('invalid', err.message, { code: err.code });
        }
        throw err;
      });
      // runc has made the container's mounts: the subpath mounts that fed them can go.
      await releaseSubpaths(subpathDir);
      traceStage(id, 'start:runtime-created');
      try {
        try {
          c.session = await this.monitor.attach(execDir);
          pump(c, c.session);
          flushPendingStdin(c, c.session);
        } catch (err) {
          this.o.log.warn('could not attach to the container; output goes to its log only', { id, err: errorMessage(err) });
        }
        traceStage(id, 'start:attached');
        await this.monitor.startCreated(execDir);
        traceStage(id, 'start:runtime-started');
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
        ...(c.rec.State.Health ? { Health: c.rec.State.Health } : {}),
      };
      this.health.start(c.rec);
      c.rec.HasBeenStartedBefore = true;
      await this.records.save(c);
      await this.startRotator(c).catch((err: unknown) => this.o.log.warn('cannot keep rotated logs', { id, err: errorMessage(err) }));
    } catch (err) {
      this.health.stop(c.rec);
      await releaseSubpaths(subpathDir).catch(() => undefined);
      if (sandbox) await this.o.network.teardown(id).catch(() => undefined);
      else await dropNetwork();
      if (volumesHeld) await detachMounts(id, c.rec.MountPoints, this.o.volumes);
      await this.mounts.release(id, merged).catch(() => undefined);
      c.rec.State.Error = errorMessage(err);
      c.rec.State.ExitCode = 127;
      await this.records.save(c).catch(() => undefined);
      endSinks(c);
      if (c.rec.HostConfig.AutoRemove === true) {
        // Not awaited: removal waits for this start to settle.
        void this.removeLive(c, { force: true, volumes: true }).catch((e: unknown) =>
          this.o.log.error('auto-remove failed', { id, err: errorMessage(e) }),
        );
      }
      throw err;
    }
    this.publish(c, 'start');
    this.watch(c);
    traceStage(id, 'start:done');
  }

  private watch(c: LiveContainer): void {
    const ac = new AbortController();
    c.watchAbort = ac;
    c.exitDone = this.monitor
      .waitExit(this.records.execDir(c.rec.Id), { signal: ac.signal, pollMs: 1000 })
      .then(
        async (code) => ({ code, oom: await this.monitor.oomKilled(this.records.execDir(c.rec.Id)).catch(() => false) }),
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
  private async finishExit(c: LiveContainer, code: number, oom: boolean): Promise<void> {
    const id = c.rec.Id;
    traceStage(id, 'exit:seen');
    const execDir = this.records.execDir(id);
    this.health.stop(c.rec);
    if (c.session) {
      // conmon closes the attach socket when the container exits; let the last output through.
      await Promise.race([c.session.closed, sleep(2000)]);
      c.session.detach();
      c.session = undefined;
    }
    endSinks(c);
    traceStage(id, 'exit:output-drained');
    await c.rotator?.stop();
    c.rotator = undefined;
    // The process is gone: runtime state, rootfs and network sandbox do not depend on each
    // other any more, so they are released at the same time (each is a tool run or two).
    await Promise.all([
      this.monitor.remove(execDir, { force: true }).then(
        () => traceStage(id, 'exit:runtime-deleted'),
        (err: unknown) => {
          if (!(isBerthError(err) && err.kind === 'notFound')) this.o.log.warn('runtime cleanup failed', { id, err: errorMessage(err) });
        },
      ),
      this.mounts.release(id, this.records.merged(id)).then(
        () => traceStage(id, 'exit:unmounted'),
        (err: unknown) => this.o.log.warn('unmount failed', { id, err: errorMessage(err) }),
      ),
      this.o.network.teardown(id).catch((err: unknown) => this.o.log.warn('network teardown failed', { id, err: errorMessage(err) })),
    ]);
    await detachMounts(id, c.rec.MountPoints ?? [], this.o.volumes, (err) => this.o.log.warn('releasing a volume failed', { id, err }));
    const finishedAt = new Date();
    const manual = c.rec.HasBeenManuallyStopped === true || c.stopping === true;
    const restart = !this.closed && !c.removing && shouldRestartAfterExit(c.rec, code, manual);
    c.rec.State = {
      ...c.rec.State,
      Status: restart ? 'restarting' : 'exited',
      Pid: 0,
      ExitCode: code,
      OOMKilled: oom,
      Paused: false,
      FinishedAt: finishedAt.toISOString(),
    };
    traceStage(id, 'exit:released');
    // A --rm container, or one being removed (`rm -f`), loses its record right away: writing its
    // exit first would be two fsyncs for a file deleted a moment later. A crash in between is
    // handled at start-up like a crash while it ran (reconcile finds it exited; --rm removes it).
    const removedNext = c.removing !== undefined || (!restart && c.rec.HostConfig.AutoRemove === true);
    if (this.records.byId.has(id) && !removedNext) await this.records.save(c).catch(() => undefined);
    traceStage(id, 'exit:recorded');
    if (oom) this.publish(c, 'oom');
    this.publish(c, 'die', { exitCode: String(code) });
    for (const w of c.exitWaiters) w(code);
    c.exitWaiters.clear();
    if (restart) {
      const ranMs = finishedAt.getTime() - Date.parse(c.rec.State.StartedAt);
      c.restartDelayMs = nextRestartDelay(c.restartDelayMs, Number.isNaN(ranMs) ? 0 : ranMs);
      c.restartTimer = setTimeout(() => {
        c.restartTimer = undefined;
        void this.policyStart(c, `exit code ${code}`);
      }, c.restartDelayMs);
      return;
    }
    if (c.rec.HostConfig.AutoRemove === true && !c.removing) {
      void this.removeLive(c, { force: true, volumes: true }).catch((err: unknown) =>
        this.o.log.error('auto-remove failed', { id, err: errorMessage(err) }),
      );
    }
  }

  // ---------------------------------------------------------------- stop, kill

  async stop(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const c = this.find(ref);
    if (c.starting) await c.starting.catch(() => undefined);
    if (c.rec.State.Status === 'restarting' && this.cancelRestart(c)) {
      // Stopped during a policy's backoff: it stays down.
      c.rec.HasBeenManuallyStopped = true;
      c.rec.State.Status = 'exited';
      await this.records.save(c);
      this.publish(c, 'stop');
      return;
    }
    if (c.rec.State.Status !== 'running') throw new BerthError('notModified', 'container already stopped');
    c.rec.HasBeenManuallyStopped = true;
    await this.records.save(c);
    const sig = normalizeSignal(signal || c.rec.Config.StopSignal || 'SIGTERM');
    const t = timeoutSec ?? (typeof c.rec.Config.StopTimeout === 'number' ? c.rec.Config.StopTimeout : 10);
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
    if (c.rec.State.Status === 'restarting') {
      throw conflict(`Cannot kill container: ${ref}: Container ${c.rec.Id} is restarting, wait until the container is running`);
    }
    if (c.rec.State.Status !== 'running') throw conflict(`Cannot kill container: ${ref}: Container ${c.rec.Id} is not running`);
    c.rec.HasBeenManuallyStopped = true;
    await this.records.save(c);
    const exited = c.exitDone;
    await this.signal(c, sig);
    // As dockerd does: a SIGKILL is answered once the exit is recorded, so an inspect right after
    // shows the container exited with 137 (bounded, in case the runtime is stuck). Other signals
    // may be handled by the process, and are answered at once.
    if (sig === 'SIGKILL' && exited) {
      const timer = new AbortController();
      await Promise.race([exited, sleep(KILL_EXIT_WAIT_MS, undefined, { signal: timer.signal }).catch(() => undefined)]);
      timer.abort();
    }
  }

  private async signal(c: LiveContainer, sig: string): Promise<void> {
    const num = os.constants.signals[sig as NodeJS.Signals] ?? Number(sig);
    this.publish(c, 'kill', { signal: String(num) });
    try {
      await this.monitor.kill(this.records.execDir(c.rec.Id), sig as NodeJS.Signals);
    } catch (err) {
      if (isBerthError(err) && err.kind === 'conflict') return; // exited meanwhile
      throw err;
    }
    // A frozen process cannot act on the signal: thaw it (as Docker does when it stops a paused container).
    if (c.rec.State.Paused) {
      await this.monitor.resume(this.records.execDir(c.rec.Id)).catch(() => undefined);
      c.rec.State.Paused = false;
      this.publish(c, 'unpause');
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
    await this.monitor.resize(this.records.execDir(c.rec.Id), height, width);
    this.publish(c, 'resize', { height: String(height), width: String(width) });
  }

  // ---------------------------------------------------------------- pause, rename, update

  async pause(ref: string): Promise<void> {
    const c = this.find(ref);
    if (c.rec.State.Status !== 'running') throw conflict(`Container ${c.rec.Id} is not running`);
    if (c.rec.State.Paused) throw conflict(`Container ${c.rec.Id} is already paused`);
    await this.monitor.pause(this.records.execDir(c.rec.Id));
    c.rec.State.Paused = true;
    this.health.stop(c.rec);
    await this.records.save(c);
    this.publish(c, 'pause');
  }

  async unpause(ref: string): Promise<void> {
    const c = this.find(ref);
    if (c.rec.State.Status !== 'running' || !c.rec.State.Paused) throw conflict(`Container ${c.rec.Id} is not paused`);
    await this.monitor.resume(this.records.execDir(c.rec.Id));
    c.rec.State.Paused = false;
    this.health.resume(c.rec);
    await this.records.save(c);
    this.publish(c, 'unpause');
  }

  async rename(ref: string, newName: string): Promise<void> {
    const c = this.find(ref);
    const name = validateName(newName);
    const oldName = c.rec.Name;
    if (name === oldName) throw invalid('Renaming a container with the same name as its current name');
    const taken = this.records.byName.get(name);
    if (taken) throw conflict(`Conflict. The container name "/${name}" is already in use by container "${taken}". You have to remove (or rename) that container to be able to reuse that name.`);
    this.records.byName.delete(oldName);
    this.records.byName.set(name, c.rec.Id);
    c.rec.Name = name;
    try {
      await this.records.save(c);
      this.o.network.rename(c.rec.Id, name);
    } catch (err) {
      this.records.byName.delete(name);
      this.records.byName.set(oldName, c.rec.Id);
      c.rec.Name = oldName;
      throw err;
    }
    this.publish(c, 'rename', { oldName: `/${oldName}` });
  }

  /**
   * `docker update`: resource limits (limits.ts merges them as dockerd does; a running container
   * gets them through `runc update` first, so a refused value changes nothing) and the restart
   * policy (an empty policy name leaves it as it is).
   */
  async update(ref: string, body: ContainerUpdateRequest): Promise<{ Warnings: string[] }> {
    const c = this.find(ref);
    const merged = mergeUpdate(c.rec.HostConfig, body, await this.facts());
    const policy = body.RestartPolicy?.Name ? validateRestartPolicy(body.RestartPolicy, c.rec.HostConfig.AutoRemove === true) : undefined;
    if (merged.changed && c.rec.State.Status === 'running' && !c.starting) {
      await this.monitor.update(this.records.execDir(c.rec.Id), merged.resources).catch((err: unknown) => {
        if (isBerthError(err) && err.kind === 'invalid') throw invalid(`Cannot update container ${c.rec.Id}: ${err.message}`, err.code);
        throw err;
      });
    }
    c.rec.HostConfig = { ...merged.hostConfig, ...(policy ? { RestartPolicy: policy } : {}) };
    await this.records.save(c);
    this.publish(c, 'update');
    return { Warnings: merged.warnings };
  }

  // ---------------------------------------------------------------- networks

  /** POST /networks/{id}/connect: live for a running container, and remembered for its next start. */
  async connectNetwork(netRef: string, ref: string, endpoint: EndpointSettings | undefined): Promise<void> {
    const c = this.find(ref);
    const e = endpoint ?? {};
    const net = this.o.network.find(netRef);
    const mode = c.rec.HostConfig.NetworkMode;
    if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
      throw invalid(`container sharing network namespace with another container or host cannot be connected to any other network`);
    }
    this.o.network.validate(net.Name, { [net.Name]: e });
    const configured = connectedNetworks(c.rec);
    if (configured.includes(net.Name) || configured.includes(net.Id)) {
      throw new BerthError('forbidden', `endpoint with name ${c.rec.Name} already exists in network ${net.Name}`);
    }
    if (c.rec.State.Status === 'running') await this.o.network.connect(c.rec.Id, net.Id, e);
    recordConnect(c.rec, net.Name, e);
    await this.records.save(c);
  }

  /** POST /networks/{id}/disconnect. */
  async disconnectNetwork(netRef: string, ref: string, force: boolean): Promise<void> {
    const net = this.o.network.find(netRef);
    let c: LiveContainer;
    try {
      c = this.find(ref);
    } catch (err) {
      // dockerd's forced disconnect of an unknown container deletes a stale endpoint of that name; there are none here.
      if (force && isBerthError(err) && err.kind === 'notFound') throw notFound(`endpoint ${ref} not found`);
      throw err;
    }
    const configured = connectedNetworks(c.rec);
    const onIt = configured.includes(net.Name) || configured.includes(net.Id);
    if (!onIt) {
      // Forcing only reaches endpoints that exist: as in dockerd, a running container has none to remove.
      if (force && c.rec.State.Status === 'running') throw notFound(`endpoint ${c.rec.Name} not found`);
      throw new BerthError('forbidden', `container ${c.rec.Id} is not connected to network ${net.Name}`);
    }
    if (c.rec.State.Status === 'running' && this.o.network.sandbox(c.rec.Id)?.endpoints.some((e) => e.networkId === net.Id)) {
      await this.o.network.disconnect(c.rec.Id, net.Id);
    }
    recordDisconnect(c.rec, net.Name);
    recordDisconnect(c.rec, net.Id);
    await this.records.save(c);
  }

  // ---------------------------------------------------------------- remove

  /** `docker rm --link parent/alias`: the parent forgets the link; both containers stay. */
  async removeLink(linkName: string): Promise<void> {
    const name = linkName.replace(/^\//, '');
    const slash = name.lastIndexOf('/');
    if (slash < 0) throw conflict('Conflict, cannot remove the default link name of the container');
    let parent: LiveContainer;
    try {
      parent = this.find(name.slice(0, slash));
    } catch {
      throw notFound(`No such container: ${name}`);
    }
    if (!dropLegacyLink(parent.rec.HostConfig, name.slice(slash + 1))) throw notFound(`No such container: ${name}`);
    await this.records.save(parent);
  }

  async remove(ref: string, opts: { force: boolean; volumes: boolean }): Promise<void> {
    const c = this.find(ref);
    if (c.removing) throw conflict(`removal of container ${c.rec.Id} is already in progress`);
    if (c.rec.State.Status === 'restarting' && !opts.force) {
      throw conflict(`cannot remove container "/${c.rec.Name}": container is restarting: stop the container before removing or force remove`);
    }
    if ((c.rec.State.Status === 'running' || c.starting) && !opts.force) {
      throw conflict(
        `cannot remove container "/${c.rec.Name}": container is running: stop the container before removing or force remove`,
      );
    }
    await this.removeLive(c, opts);
  }

  /** `volumes` (rm -v, --rm): the container's anonymous volumes go too, unless another container uses them. */
  private removeLive(c: LiveContainer, opts: { force: boolean; volumes: boolean }): Promise<void> {
    c.removing ??= (async () => {
      const id = c.rec.Id;
      traceStage(id, 'remove');
      this.cancelRestart(c);
      if (c.starting) await c.starting.catch(() => undefined);
      if (c.rec.State.Status === 'running' && opts.force) {
        await this.signal(c, 'SIGKILL').catch(() => undefined);
        await c.exitDone;
      }
      const execDir = this.records.execDir(id);
      // Exit processing already released the runtime of an exited container (the unmount below
      // is a cheap check then, kept in case that unmount failed).
      if (c.rec.State.Status !== 'exited' && c.rec.State.Status !== 'restarting') {
        await this.monitor.remove(execDir, { force: true }).catch(() => undefined);
      }
      await unmount(this.records.merged(id));
      await this.o.network.teardown(id);
      traceStage(id, 'remove:released');
      this.records.byId.delete(id);
      this.records.byName.delete(c.rec.Name);
      // The record goes first, then rm -rf (a container can make trees deeper than PATH_MAX): if
      // that still fails, the directory has no record any more and the next start removes it.
      await fsp.rm(path.join(this.records.dataDir(id), 'config.json'), { force: true });
      await Promise.all(
        [execDir, this.records.dataDir(id)].map((dir) =>
          removeContainerDir(dir).catch((err: unknown) => this.o.log.warn('removing a container directory failed', { id, dir, err: errorMessage(err) })),
        ),
      );
      traceStage(id, 'remove:deleted');
      this.publish(c, 'destroy');
      if (opts.volumes) {
        for (const m of c.rec.MountPoints ?? []) {
          if (m.Anonymous && m.Name) {
            await this.o.volumes.removeAnonymous(m.Name).catch((err: unknown) => this.o.log.warn('removing an anonymous volume failed', { id, volume: m.Name, err: errorMessage(err) }));
          }
        }
      }
      for (const w of [...c.removeWaiters, ...c.exitWaiters]) w(c.rec.State.ExitCode);
      c.removeWaiters.clear();
      c.exitWaiters.clear();
      endSinks(c);
      traceStage(id, 'removed');
    })();
    return c.removing;
  }

  /**
   * `docker container prune`: removes the containers that are not running and pass the filters
   * (label, label!, until: checked before anything goes); SpaceReclaimed is what their writable
   * layers held.
   */
  async prune(filters: Record<string, string[]> = {}): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const f = parsePruneFilters(filters);
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of [...this.records.byId.values()]) {
      if (c.rec.State.Status === 'running' || c.rec.State.Status === 'restarting' || c.starting || c.removing) continue;
      if (!prunable(f, Date.parse(c.rec.Created), c.rec.Config['Labels'] as Record<string, string> | undefined)) continue;
      const size = await diskUsage(path.join(this.records.dataDir(c.rec.Id), 'upper')).catch(() => 0);
      try {
        await this.removeLive(c, { force: false, volumes: false });
      } catch (err) {
        this.o.log.warn('prune could not remove a container', { id: c.rec.Id, err: errorMessage(err) });
        continue;
      }
      deleted.push(c.rec.Id);
      reclaimed += size;
    }
    this.o.events.publish('container', 'prune', '', { reclaimed: String(reclaimed) });
    return { ContainersDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  // ---------------------------------------------------------------- wait

  /** Validates and registers a wait; `result` settles with the exit code. */
  wait(ref: string, condition: WaitCondition, signal?: AbortSignal): { result: Promise<number> } {
    const c = this.find(ref);
    const status = c.rec.State.Status;
    if (condition === 'not-running' && status !== 'running' && status !== 'restarting' && !c.starting) {
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
  async attach(ref: string, opts: AttachOptions, open: (tty: boolean) => AttachSink): Promise<ClientAttachment> {
    const c = this.find(ref);
    const attachment = await attachClient(c, opts, open, (logOpts) => logChunks(this.records.logPath(c.rec.Id), c, logOpts));
    if (opts.stream) this.publish(c, 'attach');
    return attachment;
  }

  /** The container's log; refused before any output for a container that keeps none (log driver none). */
  logs(ref: string, opts: LogsOptions): AsyncIterable<Buffer> {
    const c = this.find(ref);
    if (keepsNoLogs(c.rec.HostConfig.LogConfig)) throw new BerthError('notImplemented', 'configured logging driver does not support reading');
    return logChunks(this.records.logPath(c.rec.Id), c, opts);
  }

  isTty(ref: string): boolean {
    return this.find(ref).rec.Config.Tty === true;
  }

  // ---------------------------------------------------------------- stats

  /**
   * `GET /containers/{id}/stats`: a sample every second while `stream`; otherwise one (two
   * samples a second apart, so the CPU figures have a baseline, unless `oneShot`). A container
   * that is not running gets one empty sample, as from Docker.
   */
  async *stats(ref: string, opts: { stream: boolean; oneShot: boolean; signal?: AbortSignal }): AsyncGenerator<Record<string, unknown>> {
    const c = this.find(ref);
    const base = { name: `/${c.rec.Name}`, id: c.rec.Id };
    const running = (): boolean => c.rec.State.Status === 'running';
    if (!running()) {
      yield { ...base, read: ZERO_TIME, preread: ZERO_TIME, pids_stats: {}, blkio_stats: {}, num_procs: 0, storage_stats: {}, cpu_stats: { cpu_usage: { total_usage: 0 }, throttling_data: {} }, precpu_stats: { cpu_usage: { total_usage: 0 }, throttling_data: {} }, memory_stats: {} };
      return;
    }
    const version = (await this.facts()).cgroupVersion;
    const cgroup = path.posix.join(this.cgroupParent, c.rec.Id);
    let prev = await sampleStats(cgroup, version);
    if (!opts.stream && !opts.oneShot) {
      await sleep(1000, undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => undefined);
    }
    const emptyCpu = { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: 0, online_cpus: prev.cpu_stats.online_cpus, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
    let first = opts.stream || opts.oneShot;
    for (;;) {
      if (opts.signal?.aborted) return;
      const cur = first ? prev : await sampleStats(cgroup, version);
      const { cpu_stats, read, ...rest } = cur;
      const counters = await this.o.network.counters(c.rec.Id);
      const networks = Object.keys(counters).length > 0 ? { networks: counters } : {};
      yield { ...base, read, preread: first ? ZERO_TIME : prev.read, ...rest, ...networks, num_procs: 0, storage_stats: {}, cpu_stats, precpu_stats: first ? emptyCpu : prev.cpu_stats };
      if (!opts.stream || !running()) return;
      prev = cur;
      first = false;
      await sleep(1000, undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- filesystem port (files.ts)

  private overlayDirs(c: LiveContainer): OverlayDirs {
    const imageRec = this.o.images.record(c.rec.ImageID);
    if (!imageRec) throw notFound(`No such image: ${c.rec.ImageID}`);
    const dataDir = this.records.dataDir(c.rec.Id);
    const lowers = chainIds(imageRec.diffIds)
      .map((ch) => this.o.images.layers.diffDir(ch))
      .reverse();
    return { lowers, upper: path.join(dataDir, 'upper'), work: path.join(dataDir, 'work'), merged: this.records.merged(c.rec.Id) };
  }

  /** What cp, export, diff and top need (ContainerFsHost). */
  readonly fs: ContainerFsHost = {
    fsInfo: (ref: string): ContainerFsInfo => {
      const c = this.find(ref);
      const dirs = this.overlayDirs(c);
      return {
        id: c.rec.Id,
        upperDir: dirs.upper,
        lowerDirs: dirs.lowers,
        running: c.rec.State.Status === 'running',
        execDir: this.records.execDir(c.rec.Id),
        dataDir: this.records.dataDir(c.rec.Id),
        user: c.rec.Config.User ?? '',
        readonlyRootfs: c.rec.HostConfig.ReadonlyRootfs === true,
        mounts: c.rec.MountPoints ?? [],
        pid: c.rec.State.Status === 'running' && c.rec.State.Pid > 0 ? c.rec.State.Pid : undefined,
      };
    },
    volumes: {
      mount: (name, use) => this.o.volumes.mount(name, use),
      unmount: (name, use) => this.o.volumes.unmount(name, use),
    },
    withRootfs: <T>(ref: string, fn: (rootfs: string) => Promise<T>): Promise<T> => {
      const c = this.find(ref);
      if (c.removing) throw conflict(`container ${c.rec.Id} is being removed`);
      return this.mounts.with(c.rec.Id, this.overlayDirs(c), fn);
    },
    publishEvent: (id: string, action: string): void => {
      const c = this.records.byId.get(id);
      if (c) this.publish(c, action);
    },
  };

  /** What `docker commit` reads of a container (CommitHost in commit.ts). */
  commitSource(ref: string): { id: string; imageId: Digest; upperDir: string; config: ContainerConfig; running: boolean; paused: boolean } {
    const c = this.find(ref);
    return {
      id: c.rec.Id,
      imageId: c.rec.ImageID,
      upperDir: path.join(this.records.dataDir(c.rec.Id), 'upper'),
      config: structuredClone(c.rec.Config) as ContainerConfig,
      running: c.rec.State.Status === 'running',
      paused: c.rec.State.Paused === true,
    };
  }

  // ---------------------------------------------------------------- views

  /** `GET /containers/json`; with `size`, each entry gets SizeRw (its upper dir) and SizeRootFs (plus the image). */
  async list(opts: ListOptions & { size?: boolean }): Promise<Record<string, unknown>[]> {
    const recs = [...this.records.byId.values()].map((c) => c.rec);
    const shown = listView(recs, opts, (ref) => this.o.images.tryResolve(ref)?.id, this.netView) as Record<string, unknown>[];
    if (opts.size) {
      await Promise.all(
        shown.map(async (v) => {
          const id = v['Id'] as string;
          const rec = this.records.byId.get(id)?.rec;
          const rw = await diskUsage(path.join(this.records.dataDir(id), 'upper')).catch(() => 0);
          const image = rec ? this.o.images.db.image(rec.ImageID) : undefined;
          v['SizeRw'] = rw;
          v['SizeRootFs'] = rw + (image ? await this.o.images.layersSize(image.diffIds).catch(() => 0) : 0);
        }),
      );
    }
    return shown;
  }

  inspect(ref: string): ContainerInspect {
    const c = this.find(ref);
    return inspectView(this.records, c.rec, this.execIdsOf?.(c.rec.Id) ?? [], this.netView);
  }

  /** Set by whoever runs execs (the daemon wires the exec manager in): the ids inspect lists. */
  execIdsOf?: (containerId: string) => string[];

  // ---------------------------------------------------------------- exec (ExecHost)

  /** What exec needs of a running container; 404 / 409 as dockerd answers an exec create or start. */
  execTarget(ref: string): ExecTarget {
    const c = this.find(ref);
    if (c.rec.State.Status !== 'running' || c.starting || c.removing) throw conflict(`container ${c.rec.Id} is not running`);
    if (c.rec.State.Paused) throw conflict(`Container ${c.rec.Id} is paused, unpause the container before exec`);
    return {
      id: c.rec.Id,
      execDir: this.records.execDir(c.rec.Id),
      rootfs: this.records.merged(c.rec.Id),
      env: c.rec.Config.Env ?? [],
    };
  }

  /** Publishes a container event for exec (exec_create, exec_start, exec_die). */
  publishFor(id: string, action: string, attrs: Record<string, string>): void {
    const c = this.records.byId.get(id);
    if (c) this.publish(c, action, attrs);
  }

  private publish(c: LiveContainer, action: string, extra: Record<string, string> = {}): void {
    const labels = c.rec.Config.Labels ?? {};
    this.o.events.publish('container', action, c.rec.Id, { ...labels, image: c.rec.Image, name: c.rec.Name, ...extra });
  }
}

// ------------------------------------------------------------------ helpers

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

