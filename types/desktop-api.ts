/**
 * The contract between Berth Desktop's renderer and its bridge host (Electron's main process,
 * or the web-mode server of `berth desktop --web`). The renderer sees only this: calls that
 * answer once, and streams that push messages (and, for terminals, take input back).
 *
 * Transports: Electron's preload exposes a BridgeTransport on `window.berth` (ipcRenderer.invoke
 * for calls, a MessagePort per stream); web mode speaks the same frames as JSON over a WebSocket
 * (WireFrame below). Engine shapes are the Docker Engine API's, from engine-api.ts.
 */
import type {
  ContainerInspect,
  ContainerSummary,
  EventMessage,
  HistoryItem,
  ImageInspect,
  ImageSummary,
  NetworkCreateBody,
  NetworkInspect,
  SystemDf,
  SystemDfType,
  SystemInfo,
  SystemVersion,
  Volume,
  VolumeCreateBody,
} from './engine-api.js';

// ---------------------------------------------------------------------------------------------
// Engines and app state

/** Where an engine is: the local socket, the VM's forwarded socket, a remote one over SSH, any Docker-compatible socket. */
export interface EngineEndpoint {
  id: string;
  name: string;
  kind: 'local' | 'vm' | 'ssh' | 'socket';
  /** unix:///path.sock, tcp://host:port or ssh://user@host[:port][/socket] */
  host: string;
  /** ssh engines: the private key to use (default: the SSH agent, Berth's key, ~/.ssh/id_*). */
  identityFile?: string;
  /** ssh engines: the host key pinned when the engine was added (`ssh-ed25519 SHA256:...`). */
  hostKey?: string;
  /** tcp:// engines over TLS: verify the engine's certificate, and the files (Berth's own copies). */
  tls?: EngineTls;
}

export interface EngineTls {
  verify: boolean;
  ca?: string;
  cert?: string;
  key?: string;
}

/** An ssh host's key as presented, against the keys trusted for it. */
export interface HostKeyReport {
  /** `host` or `[host]:port` */
  name: string;
  /** `type SHA256:...` */
  presented: string;
  /** The trusted keys, `type SHA256:...` (empty when the host is unknown). */
  trusted: string[];
  verdict: 'match' | 'mismatch' | 'unknown' | 'revoked';
}

export type EngineStatus =
  | { state: 'running'; engine: EngineEndpoint; version: string; apiVersion: string; os: string; latencyMs: number }
  | { state: 'starting'; engine: EngineEndpoint }
  | { state: 'unreachable'; engine: EngineEndpoint; reason: string; fix: string };

export type Theme = 'light' | 'dark' | 'system';

/** Where the first-run tour is, so leaving it (a link, Back, a restart) resumes it there. */
export interface TourProgress {
  /** The step reached, 0-based. */
  step: number;
  /** The image the tour pulled, or found already on the engine. */
  image?: string;
  /** The container the tour ran from it, and the port on this computer it publishes. */
  containerId?: string;
  hostPort?: number;
}

export interface Settings {
  theme: Theme;
  /** Set by Finish and by Skip: the tour does not open by itself any more. */
  onboardingDone: boolean;
  /** The registry the tour pulls its sample image from: "docker.io" (Docker Hub) unless configured. */
  sampleRegistry: string;
  sampleImage: string;
  tour: TourProgress;
}

/** What "Start engine" / "Restart engine" did, or what the person has to do instead. */
export type EngineControlResult =
  | { done: true; how: string }
  | { done: false; instructions: string; command?: string };

/** Where the bridge found the engine's own log, or why there is none to show. */
export interface DaemonLogInfo {
  /** The last lines, or null when the log could not be read. */
  text: string | null;
  path: string | null;
  /** Why there is no text (not found, not readable, on another machine), in plain words. */
  note?: string;
}

/** What "Reset to defaults" would delete, so the confirmation can list it. */
export interface ResetPlan {
  engine: string;
  containers: { name: string; running: boolean }[];
  images: { name: string; size: number }[];
  /** Bytes the images take on disk (layers shared between them counted once). */
  imagesSize: number;
  volumes: { name: string; size: number }[];
  networks: string[];
  buildCacheSize: number;
  /** The app's own settings that go back to their defaults. */
  settings: string[];
}

export interface ResetResult {
  removed: { containers: number; images: number; volumes: number; networks: number };
  /** What could not be removed, with the engine's reason. */
  failures: string[];
}

export interface Diagnostics {
  appVersion: string;
  bridge: 'electron' | 'web';
  platform: string;
  engine: EngineStatus;
  /** Round trips of GET /_ping, ms. */
  pingMs: number[];
  /** The daemon log's last lines: BERTH_DAEMON_LOG when set, else the log berthd names beside its socket. */
  daemonLog: DaemonLogInfo;
  /** Whether Start / Restart engine can be done from the app here, and how. */
  control: { start: string | null; restart: string | null };
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface RunRequest {
  image: string;
  name?: string;
  command?: string[];
  env?: string[];
  ports?: { host: string; container: string; protocol?: 'tcp' | 'udp' }[];
  volumes?: { source: string; target: string; readOnly?: boolean }[];
  restart?: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  /** Keep STDIN open and allocate a TTY (so a shell stays up). */
  interactive?: boolean;
}

export interface BuildRequest {
  /** The build context: a directory (absolute path) where the bridge host runs. */
  context: string;
  /** The Dockerfile's path inside the context (default "Dockerfile"). */
  dockerfile?: string;
  tags?: string[];
  buildArgs?: Record<string, string>;
  noCache?: boolean;
}

export interface FileEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  mode: number;
  mtime: string;
  linkTarget?: string;
}

// ---------------------------------------------------------------------------------------------
// Jobs: long work (pulls) that lives in the bridge host, so it keeps running while the user
// navigates; every update is pushed on the "jobs" stream.

export interface LayerProgress {
  id: string;
  status: string;
  current?: number;
  total?: number;
}

/** Why a pull (or push) failed, in words a person can act on; classified from the engine's error. */
export interface JobProblem {
  kind: 'offline' | 'dns' | 'proxy' | 'auth' | 'not-found' | 'refused' | 'tls' | 'timeout' | 'rate-limit' | 'disk' | 'other';
  /** What went wrong, in one plain sentence. */
  summary: string;
  /** What to do next. */
  hint: string;
}

export interface Job {
  id: string;
  kind: 'pull' | 'push' | 'build';
  title: string;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  startedAt: string;
  finishedAt?: string;
  layers: LayerProgress[];
  /** The latest status line ("Downloaded newer image for ...", "Built sha256:..."). */
  message?: string;
  /** A build's output, the latest lines ("Step 2/5 : RUN ...", the commands' own output). */
  output?: string[];
  /** The engine's own words for the failure (kept for the details and bug reports). */
  error?: string;
  problem?: JobProblem;
  /** Set on the last update of a job that was dismissed or cleared: forget it. */
  dismissed?: boolean;
}

/** A merged project log line: which service and container printed it. */
export interface ProjectLogLine extends LogLine {
  service: string;
  container: string;
}

// ---------------------------------------------------------------------------------------------
// The Berth VM (the engine on macOS and Windows; optional on Linux)

export type VmAccelerator = 'auto' | 'kvm' | 'hvf' | 'whpx' | 'tcg';

export interface VmSettings {
  cpus: number;
  memoryMiB: number;
  /** The data disk's size; it can only grow (the guest grows its filesystem at boot). */
  diskGiB: number;
  /** Host directories shared into the guest at the same path (default: the home directory). */
  shares: string[];
  accel: VmAccelerator;
  /** Registries the guest engine may reach over plain HTTP (host:port), e.g. host.docker.internal:5000. */
  insecureRegistries?: string[];
}

/** Boot stages in order, as the guest reports them on its console, then the host's own checks. */
export type VmStage = 'qemu' | 'initramfs' | 'rootfs' | 'data-disk' | 'network' | 'hostkey' | 'sshd' | 'berthd' | 'ready' | 'ssh' | 'engine';

export interface VmForwardedPort {
  proto: 'tcp' | 'udp';
  port: number;
  /** Names of the containers publishing it. */
  containers: string[];
  /** Set when the host port could not be taken (another program has it). */
  error?: string;
}

export interface VmStatus {
  state: 'absent' | 'stopped' | 'starting' | 'running' | 'stopping';
  /** While starting: the last stage reached and the fraction done (0..1). */
  stage?: VmStage;
  progress?: number;
  /** Why the last start failed or the VM stopped on its own. */
  error?: string;
  /** The accelerator in use (while running) and why, e.g. "kvm hangs here; using tcg". */
  accel?: Exclude<VmAccelerator, 'auto'>;
  accelNote?: string;
  /** The engine socket forwarded over SSH: a unix socket's path, or a named pipe on Windows. */
  socket: string;
  /** The DOCKER_HOST value for it: unix:///... or npipe:////./pipe/... */
  dockerHost: string;
  sshPort?: number;
  /** Milliseconds from qemu start to the engine answering through the socket. */
  bootMs?: number;
  startedAt?: string;
  /** Last health check: the engine's ping round trip through SSH. */
  healthy?: boolean;
  pingMs?: number;
  ports: VmForwardedPort[];
  image?: { version: string; arch: string; compressedBytes?: number };
  /** How the shared folders reach the guest: virtio-fs (Linux hosts with virtiofsd) or 9p. */
  shareType?: 'virtiofs' | '9p';
  settings: VmSettings;
  /** True where the OS has no Linux kernel (macOS, Windows): the VM is how containers run. */
  required: boolean;
}

// ---------------------------------------------------------------------------------------------
// Calls: name → [params, result]

export interface BridgeMethods {
  'engine.status': [Record<string, never>, EngineStatus];
  'engine.list': [Record<string, never>, { engines: EngineEndpoint[]; active: string }];
  /**
   * replaceHostKey: the `type SHA256:...` the user confirmed (from engine.hostKey) to replace a
   * pinned key that differs; without it such an engine is refused with 409.
   */
  'engine.add': [{ name: string; host: string; identityFile?: string; replaceHostKey?: string; tls?: EngineTls }, EngineEndpoint];
  /** What an ssh:// host presents and what is trusted for it, for the confirmation before replacing a pin. */
  'engine.hostKey': [{ host: string }, HostKeyReport];
  'engine.remove': [{ id: string }, null];
  'engine.use': [{ id: string }, EngineStatus];
  /** Starts the active engine when the app knows how (the VM, a systemd unit, the command berthd last ran with). */
  'engine.start': [Record<string, never>, EngineControlResult];
  'engine.restart': [Record<string, never>, EngineControlResult];
  /** What reset would delete on the active engine and in the app's settings. */
  'engine.resetPlan': [Record<string, never>, ResetPlan];
  /** Deletes every container, image, volume, user network and the build cache, and resets the app's settings. */
  'engine.reset': [{ confirm: 'reset' }, ResetResult];

  'system.info': [Record<string, never>, SystemInfo];
  'system.version': [Record<string, never>, SystemVersion];
  'system.df': [{ types?: SystemDfType[] }, SystemDf];
  /** A port on this computer no container publishes and nothing listens on, near `preferred`. */
  'system.freePort': [{ preferred?: number }, { port: number }];
  'diagnostics.collect': [Record<string, never>, Diagnostics];

  'settings.get': [Record<string, never>, Settings];
  'settings.set': [Partial<Settings>, Settings];

  'containers.list': [{ all?: boolean }, ContainerSummary[]];
  'containers.inspect': [{ id: string }, ContainerInspect];
  'containers.start': [{ id: string }, null];
  'containers.stop': [{ id: string }, null];
  'containers.restart': [{ id: string }, null];
  'containers.pause': [{ id: string }, null];
  'containers.unpause': [{ id: string }, null];
  'containers.kill': [{ id: string }, null];
  'containers.remove': [{ id: string; force?: boolean; volumes?: boolean }, null];
  /** Create and start (docker run -d). */
  'containers.run': [RunRequest, { id: string; warnings: string[] }];
  /** A directory's entries, read through the archive API (GET /containers/{id}/archive). */
  'containers.listDir': [{ id: string; path: string }, FileEntry[]];
  /** One file's bytes (base64), through the archive API; refused above 64 MiB. */
  'containers.readFile': [{ id: string; path: string }, { name: string; base64: string; size: number }];
  /** Writes one file into a directory (PUT /containers/{id}/archive). */
  'containers.writeFile': [{ id: string; dir: string; name: string; base64: string }, null];

  'images.list': [Record<string, never>, ImageSummary[]];
  'images.inspect': [{ id: string }, ImageInspect];
  /** The image's layers, newest first: the instruction that made each and its size. */
  'images.history': [{ id: string }, HistoryItem[]];
  'images.remove': [{ id: string; force?: boolean }, null];
  'images.prune': [{ all?: boolean }, { deleted: number; spaceReclaimed: number }];
  /** Starts a pull job (progress on the "jobs" stream). */
  'images.pull': [{ ref: string }, { jobId: string }];
  /** Starts a push job for a local tag (per-layer progress on the "jobs" stream). */
  'images.push': [{ ref: string }, { jobId: string }];
  /** Starts a build job from a folder on the machine the bridge host runs on (output on the "jobs" stream). */
  'images.build': [BuildRequest, { jobId: string }];
  'jobs.list': [Record<string, never>, Job[]];
  'jobs.cancel': [{ id: string }, null];
  /** Forgets a finished job (a running one is cancelled first). */
  'jobs.dismiss': [{ id: string }, null];
  'jobs.clearFinished': [Record<string, never>, { removed: number }];

  'volumes.list': [Record<string, never>, Volume[]];
  'volumes.create': [VolumeCreateBody, Volume];
  'volumes.remove': [{ name: string; force?: boolean }, null];
  'volumes.prune': [Record<string, never>, { deleted: number; spaceReclaimed: number }];
  /** A directory of a volume, read through a helper container that is created (never started) and removed again. */
  'volumes.listDir': [{ name: string; path: string }, FileEntry[]];
  'volumes.readFile': [{ name: string; path: string }, { name: string; base64: string; size: number }];
  /** A new volume with a copy of `source`'s files. */
  'volumes.clone': [{ source: string; target: string }, Volume];
  /** Unpacks a tar (base64, up to 64 MiB) into the volume's root. */
  'volumes.import': [{ name: string; base64: string }, null];

  /** Start, stop, restart or remove every container of a compose project (remove also takes its networks). */
  'compose.action': [{ project: string; action: 'start' | 'stop' | 'restart' | 'remove' }, { done: number; failures: string[] }];

  'networks.list': [Record<string, never>, NetworkInspect[]];
  'networks.inspect': [{ id: string }, NetworkInspect];
  'networks.create': [NetworkCreateBody, { id: string }];
  'networks.remove': [{ id: string }, null];

  'vm.status': [Record<string, never>, VmStatus];
  /** Starts the VM; returns once the start is under way (progress on the "vm" stream). */
  'vm.start': [Record<string, never>, VmStatus];
  /** Stops the VM cleanly; returns when it is down. */
  'vm.stop': [Record<string, never>, VmStatus];
  /** Saves settings; they apply at the next start. */
  'vm.configure': [Partial<VmSettings>, VmStatus];
}

// ---------------------------------------------------------------------------------------------
// Streams: name → [params, message pushed to the renderer, input the renderer may send]

export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, when asked for timestamps. */
  time?: string;
  text: string;
}

export interface StatsSample {
  time: string;
  cpuPercent: number;
  memoryBytes: number;
  memoryLimitBytes: number;
  networkRxBytes: number;
  networkTxBytes: number;
  blockReadBytes: number;
  blockWriteBytes: number;
  pids: number;
}

export type TerminalInput = { type: 'data'; data: string } | { type: 'resize'; cols: number; rows: number };

export interface BridgeStreams {
  /** The engine's /events plus engine state changes (so views refresh without polling). */
  events: [Record<string, never>, { type: 'engine'; status: EngineStatus } | { type: 'event'; event: EventMessage }, never];
  /** Every job update, and all current jobs on open. */
  jobs: [Record<string, never>, Job, never];
  /** Log lines in batches (a flood arrives as few messages). */
  logs: [{ id: string; follow: boolean; tail?: number; since?: number; timestamps?: boolean }, { lines: LogLine[] }, never];
  stats: [{ id: string }, StatsSample, never];
  /** Every container of a compose project, merged in time order (service and container on each line). */
  projectLogs: [{ project: string; follow: boolean; tail?: number }, { lines: ProjectLogLine[] }, never];
  /** A volume as a tar, in base64 chunks, then the total. */
  volumeExport: [{ name: string }, { type: 'chunk'; base64: string } | { type: 'end'; bytes: number }, never];
  /** The VM's status, on open and on every change (boot progress, ports, health). */
  vm: [Record<string, never>, VmStatus, never];
  /** An interactive exec with a TTY: bash when the container has it, else sh (or `cmd`). */
  terminal: [{ id: string; cmd?: string[]; cols: number; rows: number }, { type: 'data'; data: string } | { type: 'exit'; code: number }, TerminalInput];
}

export type MethodName = keyof BridgeMethods;
export type MethodParams<M extends MethodName> = BridgeMethods[M][0];
export type MethodResult<M extends MethodName> = BridgeMethods[M][1];
export type StreamName = keyof BridgeStreams;
export type StreamParams<S extends StreamName> = BridgeStreams[S][0];
export type StreamMessage<S extends StreamName> = BridgeStreams[S][1];
export type StreamInput<S extends StreamName> = BridgeStreams[S][2];

/** An error crossing the bridge: the engine's message and HTTP status (0 when the engine was not reached). */
export interface BridgeError {
  message: string;
  status: number;
}

export interface StreamHandlers<S extends StreamName> {
  data(msg: StreamMessage<S>): void;
  /** The stream ended: by the host (error set on failure) or after close(). */
  end(error?: BridgeError): void;
}

export interface StreamHandle<S extends StreamName> {
  send(input: StreamInput<S>): void;
  close(): void;
}

/** What the renderer gets on `window.berth` (Electron) or builds over a WebSocket (web mode). */
export interface BridgeTransport {
  readonly kind: 'electron' | 'web';
  invoke<M extends MethodName>(method: M, params: MethodParams<M>): Promise<MethodResult<M>>;
  open<S extends StreamName>(stream: S, params: StreamParams<S>, handlers: StreamHandlers<S>): StreamHandle<S>;
}

/** Web mode's frames (JSON text over the WebSocket). Electron carries the same payloads over IPC. */
export type WireFrame =
  | { t: 'call'; id: number; method: MethodName; params: unknown }
  | { t: 'result'; id: number; ok: true; value: unknown }
  | { t: 'result'; id: number; ok: false; error: BridgeError }
  | { t: 'open'; id: number; stream: StreamName; params: unknown }
  | { t: 'input'; id: number; data: unknown }
  | { t: 'data'; id: number; data: unknown }
  | { t: 'close'; id: number }
  | { t: 'end'; id: number; error?: BridgeError };
