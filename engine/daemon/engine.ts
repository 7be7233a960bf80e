import os from 'node:os';
import path from 'node:path';
import { promises as fsp, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../common/log.js';
import { readJsonIfExists, atomicWriteJson } from '../common/fsutil.js';
import { EventBus } from '../events/bus.js';
import { LocalContentStore } from '../store/content.js';
import { OverlayLayerStore } from '../store/layers.js';
import { ImageDb } from '../images/imagedb.js';
import { ImageService } from '../images/service.js';
import { Puller } from '../images/pull.js';
import { ImageViews } from '../images/views.js';
import type { ImageArchiver } from '../images/archive.js';
import type { Registry } from '../registry/types.js';
import { Router, API_VERSION, MIN_API_VERSION } from '../api/router.js';
import { systemRoutes } from '../api/system.js';
import { imagePushRoutes, imageRoutes } from '../api/images.js';
import { ImagePusher } from '../images/push.js';
import { heavyWork } from '../common/memory.js';
import { containerRoutes } from '../api/containers.js';
import { debugRoutes, debugRoutesEnabled } from '../api/debug.js';
import { networkRoutes } from '../api/networks.js';
import { NetworkService } from '../network/service.js';
import { networkFilter, networkView } from '../network/views.js';
import { parseResolvConf, startDnsServer } from '../network/dns.js';
import { containerFileRoutes } from '../api/container-files.js';
import { ContainerFiles } from '../containers/files.js';
import { ContainerService } from '../containers/service.js';
import { resolveLogConfig } from '../containers/logrotate.js';
import { detectInit, detectRuntimes, pickDefaultRuntime, type InitBinary, type RuntimeInfo } from '../runtime/detect.js';
import { ExecManager } from '../containers/exec.js';
import { execRoutes } from '../api/exec.js';
import { ConmonMonitor } from '../runtime/monitor.js';
import type { DaemonConfig } from './flags.js';
import { diskUsage } from './disk-usage.js';
import { VolumeStore } from '../volumes/store.js';
import { VolumeService } from '../volumes/service.js';
import { volumeRoutes } from '../api/volumes.js';
import { commitRoutes, type CommitBackend } from '../api/commit.js';
import { ImageCommitter } from '../images/commit.js';
import { importImage } from '../images/import.js';
import { ContainerCommits } from '../containers/commit.js';
import { buildRoutes } from '../api/build.js';
import { swarmRoutes } from '../api/swarm.js';
import { parsePlatform } from '../api/images.js';
import type { Builder } from '../builder/builder.js';
import { BuildCacheStore } from '../builder/cache-store.js';
import { migrateIntermediateImages } from '../builder/migrate.js';
import { sweepBuildScratch } from '../builder/scratch.js';
import { parseReference } from '../registry/reference.js';
import type { AuthConfig } from '../registry/types.js';

export const ENGINE_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/**
 * The composition root: the only place that knows every subsystem. It builds
 * the stores, services and routes for one daemon instance.
 *
 * On-disk layout under --data-root (docs/ARCHITECTURE.md, "On-disk layout", has every file):
 *   content/     blobs by digest (+ ingest/ for writes in flight)          store
 *   layers/      unpacked layers by chain ID (+ tmp/ for unpacks in flight) store
 *   images/      imagedb.json: images and tags                             images
 *   containers/  <id>/: the record, /etc files, logs, the overlay upper     containers
 *   network/     state.json: networks and running containers' sandboxes    network
 *   builder/     cache-store.json (the build cache), cache-mounts/, tmp/   builder
 *   volumes/     the local driver's volumes: <name>/volume.json, _data/    volumes
 *   engine-id.json, berthd.pid, berthd.log                                 daemon
 */
export interface Engine {
  router: Router;
  events: EventBus;
  close(): Promise<void>;
}

export async function createEngine(cfg: DaemonConfig, log: Logger): Promise<Engine> {
  const events = new EventBus();
  const content = new LocalContentStore(path.join(cfg.dataRoot, 'content'));
  const layers = new OverlayLayerStore(path.join(cfg.dataRoot, 'layers'));
  await content.init();
  await layers.init();
  // Anything half-written when the previous daemon died goes first.
  await content.cleanup();
  await layers.cleanup();
  const db = new ImageDb(path.join(cfg.dataRoot, 'images'));
  await db.load();
  const images = new ImageService(db, content, layers, events, log.child({ subsystem: 'images' }));
  // The build cache's states hold layers too: loaded before anything is collected.
  const buildCache = new BuildCacheStore(path.join(cfg.dataRoot, 'builder'));
  await buildCache.load();
  images.states = buildCache;
  await migrateIntermediateImages(buildCache.dir, buildCache, images, log.child({ subsystem: 'builder' }));
  // Layers a killed pull had committed but never recorded belong to no image.
  const gc = await images.collectGarbage();
  if (gc.layers.length + gc.blobs.length > 0) {
    log.info('removed content left by an interrupted operation', { layers: gc.layers.length, blobs: gc.blobs.length });
  }

  // The registry client and archive code load on first use: an idle daemon stays small.
  let registry: Promise<Registry> | undefined;
  const getRegistry = (): Promise<Registry> =>
    (registry ??= import('../registry/client.js').then(
      ({ RegistryClient }) =>
        new RegistryClient({
          insecureRegistries: cfg.insecureRegistries,
          log: log.child({ subsystem: 'registry' }),
          userAgent: `berth/${ENGINE_VERSION} (linux)`,
        }),
    ));
  let archiver: Promise<ImageArchiver> | undefined;
  const getArchiver = (): Promise<ImageArchiver> =>
    (archiver ??= import('../images/archive.js').then(
      ({ ImageArchiver }) => new ImageArchiver(images, layers, log.child({ subsystem: 'archive' })),
    ));

  const puller = new Puller(images, layers, getRegistry, log.child({ subsystem: 'pull' }), {
    concurrency: cfg.maxConcurrentDownloads,
    maxAttempts: cfg.maxDownloadAttempts,
  });
  const views = new ImageViews(images, layers, puller, getArchiver, getRegistry);
  const engineId = await loadEngineId(cfg.dataRoot);

  const runtimes = await detectRuntimes(cfg.addRuntimes);
  const defaultRuntime = pickDefaultRuntime(runtimes, cfg.defaultRuntime);
  for (const [name, info] of Object.entries(runtimes)) {
    if (info.unusable) log.warn('OCI runtime not usable on this host', { runtime: name, why: info.unusable });
  }
  log.info('OCI runtime', { default: defaultRuntime, path: runtimes[defaultRuntime]?.path });
  const init = await detectInit(cfg.initPath);
  if (cfg.initPath && !init) throw new Error(`--init-path ${cfg.initPath} is not an executable file`);
  if (!init) log.warn('no init binary (docker-init or tini-static): containers cannot use --init; install tini');
  // Volumes: loaded before the containers, which hold them while they run.
  const volumeStore = new VolumeStore(path.join(cfg.dataRoot, 'volumes'), log.child({ subsystem: 'volumes' }));
  await volumeStore.init();
  const volumes = new VolumeService(volumeStore, (action, name, attrs) => events.publish('volume', action, name, attrs));

  const network = new NetworkService({
    dataRoot: cfg.dataRoot,
    log: log.child({ subsystem: 'network' }),
    ...(cfg.bip ? { bip: cfg.bip } : {}),
    noDefaultBridge: cfg.noDefaultBridge,
    hostNameservers: () => hostNameservers(),
    dns: (o) =>
      startDnsServer({
        address: o.address,
        records: { lookupA: o.lookupA, lookupPtr: o.lookupPtr },
        upstreams: o.upstreams,
        log: log.child({ subsystem: 'dns', address: o.address }),
      }),
    publish: (action, n, attrs = {}) =>
      void events.publish('network', action, n.Id, { name: n.Name, ...attrs }),
  });
  await network.init();
  const containers: ContainerService = new ContainerService({
    volumes,
    dataRoot: cfg.dataRoot,
    execRoot: cfg.execRoot,
    runtimes,
    defaultRuntime,
    logDefaults: resolveLogConfig({ Type: cfg.logDriver, Config: cfg.logOpts }, { Type: cfg.logDriver, Config: {} }).config,
    images,
    events,
    log: log.child({ subsystem: 'containers' }),
    network,
    defaultBridge: !cfg.noDefaultBridge,
    ...(init ? { initPath: init.path } : {}),
    init: cfg.init,
    // HEALTHCHECK probes are execs (with exec_* events, as from dockerd).
    healthProbes: { probe: (id, cmd, o) => execs.probe(id, cmd, o) },
  });
  // Made before the containers load: running containers resume their health checks then.
  const execs: ExecManager = new ExecManager({
    host: { runningContainer: (ref) => containers.execTarget(ref), publish: (id, action, attrs) => containers.publishFor(id, action, attrs) },
    monitor: new ConmonMonitor(),
    log: log.child({ subsystem: 'exec' }),
  });
  images.users = { containersUsing: (id) => containers.containersUsing(id) };
  volumes.users = {
    containersUsing: (name) => containers.containersUsingVolume(name),
    nameOf: (id) => String(containers.inspect(id)['Name'] ?? '').replace(/^\//, '') || undefined,
  };
  // Containers outlive the daemon: pick up running ones, record the exits of the others.
  await containers.init();
  // Running containers have re-claimed their volumes; what nobody claimed is unmounted.
  await volumes.releaseUnheld();
  await network.retain((id) => containers.isLive(id));

  // A container's execs (which die with its PID namespace) are forgotten when it is removed.
  events.subscribe((e) => {
    if (e.Type === 'container' && e.Action === 'destroy') execs.containerGone(e.Actor.ID);
  });
  containers.execIdsOf = (id) => execs.execIds(id);

  const committer = new ImageCommitter(images, layers, content, log.child({ subsystem: 'commit' }));
  // docker build (classic builder): steps run through the container service, commit through the
  // committer. Loaded on the first build (or build-cache query): a daemon that never builds does not
  // parse it at start. What a killed daemon's builds left is swept now, before anything mounts.
  const builderDir = path.join(cfg.dataRoot, 'builder');
  const builderRunDir = path.join(cfg.execRoot, 'builder');
  await sweepBuildScratch(builderDir, builderRunDir);
  let builder: Promise<Builder> | undefined;
  const getBuilder = (): Promise<Builder> =>
    (builder ??= import('../builder/builder.js').then(
      ({ Builder: BuilderClass }) =>
        new BuilderClass({
          images,
          containers,
          committer,
          store: buildCache,
          dir: builderDir,
          runDir: builderRunDir,
          log: log.child({ subsystem: 'builder' }),
          pull: async (ref, o) => {
            const platform = parsePlatform(o.platform ?? null);
            await views.pull(ref, undefined, {
              ...buildAuth(ref, o.registryAuth),
              ...(platform ? { platform } : {}),
              signal: o.signal,
              progress: o.progress,
            });
            return images.resolveRecord(ref).id;
          },
        }),
    ));

  const router = new Router();
  systemRoutes(router, {
    events,
    version: () => versionInfo(),
    info: async () => systemInfo(cfg, engineId, images.list().length, containers.counts(), runtimes, defaultRuntime, init),
    diskUsage: (types) =>
      diskUsage(
        {
          images: () => views.diskUsageImages(),
          containers: () => containers.list({ all: true, size: true, filters: {} }),
          volumes: () => volumes.diskUsage(),
          buildCache: async () => {
            const items = await (await getBuilder()).diskUsage();
            return { items, size: items.reduce((n, b) => n + b.Size, 0) };
          },
        },
        types,
      ) as unknown as Promise<Record<string, unknown>>,
    login: async (auth) => (await getRegistry()).login(auth),
  });
  // docker commit and import: images/commit.ts makes images, containers/commit.ts reads a container for it.
  const commits = new ContainerCommits(containers, committer, log.child({ subsystem: 'commit' }));
  const commitBackend: CommitBackend = {
    commit: (ref, params) => commits.commit(ref, params),
    importImage: (tar, params, signal) => importImage(committer, events, tar, params, signal),
  };
  commitRoutes(router, commitBackend);
  imageRoutes(router, views, commitBackend);
  const pusher = new ImagePusher(images, layers, getRegistry, log.child({ subsystem: 'push' }), {
    concurrency: cfg.maxConcurrentUploads,
    chunkSize: cfg.pushChunkSize,
  });
  imagePushRoutes(router, { push: async (name, tag, opts) => void (await heavyWork(() => pusher.push(name, tag, opts))) });
  containerRoutes(router, containers);
  if (debugRoutesEnabled()) debugRoutes(router);
  networkRoutes(router, {
    list: (filters) => {
      const keep = networkFilter(filters, (n) => Object.keys(network.attached(n.Id)).length > 0);
      return network.list().filter(keep).map((n) => networkView(n, {}));
    },
    inspect: (ref) => {
      const n = network.find(ref);
      return networkView(n, network.attached(n.Id));
    },
    create: (body) => network.create(body),
    remove: (ref) => network.remove(ref),
    connect: (net, ctr, endpoint) => containers.connectNetwork(net, ctr, endpoint),
    disconnect: (net, ctr, force) => containers.disconnectNetwork(net, ctr, force),
    prune: (filters) => network.prune(filters),
  });
  containerFileRoutes(router, new ContainerFiles(containers.fs));
  execRoutes(router, execs);
  volumeRoutes(router, volumes);
  buildRoutes(router, {
    build: async (context, req) => (await getBuilder()).build(context, req),
    prune: async (req) => (await getBuilder()).prune(req),
  });
  swarmRoutes(router);

  return {
    router,
    events,
    close: async () => {
      execs.close();
      await containers.close();
      await network.close();
      if (registry) {
        const r = (await registry) as Registry & { close?: () => Promise<void> };
        await r.close?.();
      }
    },
  };
}

/** X-Registry-Config holds credentials per registry; a base image pull uses its own registry's. */
function buildAuth(ref: string, byRegistry: Record<string, unknown>): { auth?: AuthConfig } {
  const domain = parseReference(ref).domain;
  const keys = domain === 'docker.io' ? ['docker.io', 'https://index.docker.io/v1/', 'index.docker.io'] : [domain, `https://${domain}`, `http://${domain}`];
  for (const k of keys) {
    const a = byRegistry[k];
    if (typeof a === 'object' && a !== null) return { auth: a as AuthConfig };
  }
  return {};
}

/** The host's nameservers, read fresh (resolv.conf changes as laptops move between networks). */
function hostNameservers(): string[] {
  try {
    return parseResolvConf(readFileSync('/etc/resolv.conf', 'utf8')).nameservers;
  } catch {
    return [];
  }
}

async function loadEngineId(dataRoot: string): Promise<string> {
  const file = path.join(dataRoot, 'engine-id.json');
  const existing = await readJsonIfExists<{ id: string }>(file);
  if (existing?.id) return existing.id;
  const id = randomUUID();
  await atomicWriteJson(file, { id });
  return id;
}

function goArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
  return map[process.arch] ?? process.arch;
}

function versionInfo(): Record<string, unknown> {
  const details = {
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: process.env['BERTH_GIT_COMMIT'] ?? 'unknown',
    GoVersion: `node${process.versions.node}`,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: os.release(),
  };
  return {
    Platform: { Name: 'Berth Engine' },
    Components: [{ Name: 'Engine', Version: ENGINE_VERSION, Details: details }],
    Version: ENGINE_VERSION,
    ...details,
    BuildTime: '',
  };
}

let osName: string | undefined;
function operatingSystem(): string {
  if (osName === undefined) {
    try {
      const rel = readFileSync('/etc/os-release', 'utf8');
      osName = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(rel)?.[1] ?? 'Linux';
    } catch {
      osName = 'Linux';
    }
  }
  return osName;
}

async function cgroupVersion(): Promise<string> {
  try {
    await fsp.access('/sys/fs/cgroup/cgroup.controllers');
    return '2';
  } catch {
    return '1';
  }
}

async function systemInfo(
  cfg: DaemonConfig,
  id: string,
  imageCount: number,
  counts: { total: number; running: number; paused: number; stopped: number },
  runtimes: Record<string, RuntimeInfo>,
  defaultRuntime: string,
  init: InitBinary | undefined,
): Promise<Record<string, unknown>> {
  return {
    ID: id,
    Containers: counts.total,
    ContainersRunning: counts.running,
    ContainersPaused: counts.paused,
    ContainersStopped: counts.stopped,
    Images: imageCount,
    Driver: 'overlay2',
    DriverStatus: [['Backing Filesystem', 'extfs'], ['Supports d_type', 'true']],
    Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['json-file'] },
    MemoryLimit: true,
    SwapLimit: true,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: true,
    CPUSet: true,
    PidsLimit: true,
    IPv4Forwarding: true,
    Debug: cfg.logLevel === 'debug',
    NFd: 0,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: cfg.logDriver,
    CgroupDriver: 'cgroupfs',
    CgroupVersion: await cgroupVersion(),
    NEventsListener: 0,
    KernelVersion: os.release(),
    OperatingSystem: operatingSystem(),
    OSVersion: '',
    OSType: 'linux',
    Architecture: os.machine(),
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: {
      AllowNondistributableArtifactsCIDRs: [],
      AllowNondistributableArtifactsHostnames: [],
      InsecureRegistryCIDRs: ['127.0.0.0/8', '::1/128'],
      IndexConfigs: Object.fromEntries(
        [['docker.io', false], ...cfg.insecureRegistries.map((r) => [r, true] as const)].map(([name, insecure]) => [
          name,
          { Name: name, Mirrors: [], Secure: !insecure, Official: name === 'docker.io' },
        ]),
      ),
      Mirrors: [],
    },
    NCPU: os.cpus().length,
    MemTotal: os.totalmem(),
    DockerRootDir: cfg.dataRoot,
    HttpProxy: process.env['HTTP_PROXY'] ?? '',
    HttpsProxy: process.env['HTTPS_PROXY'] ?? '',
    NoProxy: process.env['NO_PROXY'] ?? '',
    Name: os.hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: ENGINE_VERSION,
    Runtimes: Object.fromEntries(Object.entries(runtimes).filter(([, r]) => !r.unusable).map(([name, r]) => [name, { path: r.path }])),
    DefaultRuntime: defaultRuntime,
    Swarm: {
      NodeID: '',
      NodeAddr: '',
      LocalNodeState: 'inactive',
      ControlAvailable: false,
      Error: '',
      RemoteManagers: null,
    },
    LiveRestoreEnabled: true,
    Isolation: '',
    InitBinary: init ? 'docker-init' : '',
    // What docker info prints as the init's version (Docker puts tini's git commit here; Debian's build has only its version).
    InitCommit: { ID: init ? (/version ([^\s]+)/.exec(init.version)?.[1] ?? 'N/A') : 'N/A', Expected: '' },
    // Every container not privileged or unconfined gets Docker's default seccomp profile (runtime/seccomp.ts).
    SecurityOptions: ['name=seccomp,profile=builtin'],
    Warnings: [],
  };
}
