/**
 * Wire shapes of the Docker Engine API v1.47, as Berth serves them and as
 * client/ consumes them. Types only: no runtime code and no imports, so every
 * layer (engine, client, CLI, Electron) can depend on this file.
 *
 * Field names follow the API exactly (PascalCase for most objects, camelCase
 * where Docker uses it: JSONMessage, events, distribution descriptors).
 * Optional (`?`) marks fields the daemon may omit (Go `omitempty`).
 */

/** The API version Berth implements and the client asks for by default. */
export type ApiVersion = '1.47';

/** Any error response body: `{"message": "..."}`. */
export interface ErrorResponse {
  message: string;
}

/** Filters as the API takes them (JSON in the `filters` query parameter). */
export type Filters = Record<string, string[]>;

// ---------------------------------------------------------------------------
// System

/** GET /_ping: the response headers that carry information. */
export interface PingInfo {
  /** Body, "OK". */
  status: string;
  /** `Api-Version` header. */
  apiVersion?: string;
  /** `Ostype` header ("linux"). */
  osType?: string;
  /** `Docker-Experimental` header. */
  experimental?: boolean;
  /** `Builder-Version` header. */
  builderVersion?: string;
}

export interface ComponentVersion {
  Name: string;
  Version: string;
  Details?: Record<string, string>;
}

/** GET /version */
export interface SystemVersion {
  Platform?: { Name: string };
  Components?: ComponentVersion[];
  Version: string;
  ApiVersion: string;
  MinAPIVersion?: string;
  GitCommit?: string;
  GoVersion?: string;
  Os: string;
  Arch: string;
  KernelVersion?: string;
  Experimental?: boolean;
  /** RFC 3339 */
  BuildTime?: string;
}

export interface RegistryServiceConfig {
  AllowNondistributableArtifactsCIDRs?: string[];
  AllowNondistributableArtifactsHostnames?: string[];
  InsecureRegistryCIDRs?: string[];
  IndexConfigs?: Record<string, { Name: string; Mirrors: string[]; Secure: boolean; Official: boolean }>;
  Mirrors?: string[];
}

export interface RuntimeInfo {
  path?: string;
  runtimeArgs?: string[];
  status?: Record<string, string>;
}

/** GET /info (the subset that matters to Berth; the daemon may send more). */
export interface SystemInfo {
  ID: string;
  Containers: number;
  ContainersRunning: number;
  ContainersPaused: number;
  ContainersStopped: number;
  Images: number;
  Driver: string;
  DriverStatus?: [string, string][] | null;
  DockerRootDir: string;
  Plugins?: { Volume?: string[]; Network?: string[]; Authorization?: string[] | null; Log?: string[] };
  MemoryLimit?: boolean;
  SwapLimit?: boolean;
  CpuCfsPeriod?: boolean;
  CpuCfsQuota?: boolean;
  CPUShares?: boolean;
  CPUSet?: boolean;
  PidsLimit?: boolean;
  OomKillDisable?: boolean;
  IPv4Forwarding?: boolean;
  Debug: boolean;
  NFd?: number;
  NGoroutines?: number;
  /** RFC 3339 with nanoseconds */
  SystemTime: string;
  LoggingDriver?: string;
  CgroupDriver?: string;
  CgroupVersion?: string;
  NEventsListener?: number;
  KernelVersion: string;
  OperatingSystem: string;
  OSVersion?: string;
  OSType: string;
  Architecture: string;
  NCPU: number;
  MemTotal: number;
  IndexServerAddress?: string;
  RegistryConfig?: RegistryServiceConfig;
  HttpProxy?: string;
  HttpsProxy?: string;
  NoProxy?: string;
  Name: string;
  Labels?: string[];
  ExperimentalBuild?: boolean;
  ServerVersion: string;
  Runtimes?: Record<string, RuntimeInfo>;
  DefaultRuntime?: string;
  LiveRestoreEnabled?: boolean;
  Isolation?: string;
  InitBinary?: string;
  SecurityOptions?: string[];
  Warnings?: string[] | null;
}

// ---------------------------------------------------------------------------
// Images

/** GET /images/json: one element. */
export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  /** Unix seconds. */
  Created: number;
  Size: number;
  /** -1 when not computed. */
  SharedSize: number;
  /** Deprecated; omitted since v1.44. */
  VirtualSize?: number;
  Labels: Record<string, string> | null;
  /** -1 when not computed. */
  Containers: number;
}

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
  StartInterval?: number;
}

/** The image's runtime configuration as GET /images/{name}/json reports it. */
export interface ImageConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, Record<string, never>> | null;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean;
  Image?: string;
  Volumes?: Record<string, Record<string, never>> | null;
  WorkingDir?: string;
  Entrypoint?: string[] | null;
  OnBuild?: string[] | null;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number;
  Shell?: string[] | null;
}

/** GET /images/{name}/json */
export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  /** RFC 3339 with nanoseconds; may be empty for images without a creation time. */
  Created: string;
  DockerVersion: string;
  Author: string;
  Config: ImageConfig | null;
  Architecture: string;
  Variant?: string;
  Os: string;
  OsVersion?: string;
  Size: number;
  /** Deprecated; omitted since v1.44. */
  VirtualSize?: number;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  RootFS: { Type: string; Layers?: string[] };
  Metadata: { LastTagTime?: string };
}

/** GET /images/{name}/history: one element (newest first). */
export interface HistoryItem {
  /** Image ID, or "<missing>" for layers without a local image. */
  Id: string;
  /** Unix seconds. */
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

/** DELETE /images/{name} and POST /images/prune: one element. */
export type ImageDeleteItem = { Untagged: string; Deleted?: undefined } | { Deleted: string; Untagged?: undefined };

/** POST /images/prune */
export interface PruneImagesResponse {
  ImagesDeleted: ImageDeleteItem[] | null;
  SpaceReclaimed: number;
}

/** `progressDetail` of a JSONMessage. */
export interface ProgressDetail {
  current?: number;
  total?: number;
  /** Units other than bytes, e.g. "Fetching" in some messages. */
  units?: string;
  start?: number;
  hidecounts?: boolean;
}

/**
 * One line of a streamed progress response (POST /images/create, /images/load,
 * /images/{name}/push, /build): Docker's JSONMessage.
 */
export interface ProgressMessage {
  status?: string;
  /** Layer ID (12 hex chars) or tag the status is about. */
  id?: string;
  /** Pre-rendered progress bar (legacy; clients render progressDetail themselves). */
  progress?: string;
  progressDetail?: ProgressDetail;
  /** Raw output (build steps, "Loaded image: ..."). */
  stream?: string;
  /** Side-channel data, e.g. `{ "ID": "sha256:..." }` after a build or load. */
  aux?: unknown;
  /** Set (with errorDetail) when the operation failed mid-stream. */
  error?: string;
  errorDetail?: { code?: number; message: string };
  /** Legacy time fields. */
  time?: number;
  timeNano?: number;
}

/** POST /images/{name}/tag query. */
export interface TagOptions {
  repo: string;
  tag?: string;
}

// ---------------------------------------------------------------------------
// Distribution and auth

/** Docker's AuthConfig: the JSON inside X-Registry-Auth and the body of POST /auth. */
export interface AuthConfig {
  username?: string;
  password?: string;
  /** base64("user:pass") */
  auth?: string;
  email?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

/** POST /auth */
export interface AuthResponse {
  /** "Login Succeeded" */
  Status: string;
  IdentityToken?: string;
}

export interface OCIPlatform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  features?: string[];
}

export interface OCIDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  platform?: OCIPlatform;
  artifactType?: string;
}

/** GET /distribution/{name}/json */
export interface DistributionInspect {
  Descriptor: OCIDescriptor;
  Platforms: OCIPlatform[];
}

// ---------------------------------------------------------------------------
// Events

export type EventType =
  | 'builder'
  | 'config'
  | 'container'
  | 'daemon'
  | 'image'
  | 'network'
  | 'node'
  | 'plugin'
  | 'secret'
  | 'service'
  | 'volume';

/** GET /events: one streamed object. */
export interface EventMessage {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope?: 'local' | 'swarm';
  /** Unix seconds. */
  time: number;
  /** Unix nanoseconds (exceeds 2^53: precision beyond ~microseconds is lost in JS). */
  timeNano: number;
  /** Legacy: same as Action for container/image events. */
  status?: string;
  /** Legacy: same as Actor.ID. */
  id?: string;
  /** Legacy: the image of a container event. */
  from?: string;
}

// ---------------------------------------------------------------------------
// Containers (basics, for the endpoints that come later)

export interface Port {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: 'tcp' | 'udp' | 'sctp';
}

export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs' | 'npipe' | 'cluster' | 'image';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** GET /containers/json: one element. */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  /** Unix seconds. */
  Created: number;
  Ports: Port[];
  SizeRw?: number;
  SizeRootFs?: number;
  Labels: Record<string, string> | null;
  State: ContainerState;
  /** Human text, e.g. "Up 2 hours". */
  Status: string;
  HostConfig?: { NetworkMode?: string; Annotations?: Record<string, string> };
  NetworkSettings?: { Networks?: Record<string, unknown> };
  Mounts: MountPoint[];
}

// ---------------------------------------------------------------------------
// Volumes and build cache (for /system/df)

export interface Volume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt?: string;
  Status?: Record<string, unknown>;
  Labels: Record<string, string> | null;
  Scope: 'local' | 'global';
  Options: Record<string, string> | null;
  UsageData?: { Size: number; RefCount: number } | null;
}

/** POST /volumes/create */
export interface VolumeCreateBody {
  Name?: string;
  Driver?: string;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

/** GET /volumes */
export interface VolumeListResponse {
  Volumes: Volume[] | null;
  Warnings: string[] | null;
}

/** POST /volumes/prune */
export interface PruneVolumesResponse {
  VolumesDeleted: string[] | null;
  SpaceReclaimed: number;
}

/** POST /build/prune */
export interface PruneBuildCacheResponse {
  CachesDeleted: string[] | null;
  SpaceReclaimed: number;
}

export interface BuildCacheRecord {
  ID: string;
  Parent?: string;
  Parents?: string[];
  Type: string;
  Description: string;
  InUse: boolean;
  Shared: boolean;
  Size: number;
  CreatedAt: string;
  LastUsedAt: string | null;
  UsageCount: number;
}

/** GET /system/df */
export interface SystemDf {
  LayersSize: number;
  Images: ImageSummary[] | null;
  Containers: ContainerSummary[] | null;
  Volumes: Volume[] | null;
  BuildCache: BuildCacheRecord[] | null;
}

/** `type` query values accepted by GET /system/df. */
export type SystemDfType = 'container' | 'image' | 'volume' | 'build-cache';

// ---------------------------------------------------------------------------
// Container create, inspect, exec, top, archive
//
// Request bodies are what a client may send; berthd decodes them in one step
// (engine/api/decode/) into these same shapes, with Go's leniency: `null` is the same as an
// absent field, a string is accepted where Docker takes a StrSlice (Cmd, Entrypoint, Shell,
// CapAdd, CapDrop) and decoded as a one-element list, field names match case-insensitively.
// Decoded values never hold `null`; the `| null` below is for senders.

export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

/** "80/tcp" → where it is published. */
export type PortMap = Record<string, PortBinding[] | null>;

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

export interface RestartPolicy {
  /** "" | "no" | "always" | "unless-stopped" | "on-failure" */
  Name: string;
  MaximumRetryCount?: number;
}

/** HostConfig.LogConfig (`--log-driver`, `--log-opt`). */
export interface LogConfig {
  Type: string;
  Config: Record<string, string> | null;
}

/** One entry of HostConfig.Mounts (`--mount`). */
export interface MountSpec {
  /** "bind", "volume" or "tmpfs" (Docker also knows "npipe", "cluster" and "image"). */
  Type: string;
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: {
    Propagation?: string;
    NonRecursive?: boolean;
    CreateMountpoint?: boolean;
    ReadOnlyNonRecursive?: boolean;
    ReadOnlyForceRecursive?: boolean;
  } | null;
  VolumeOptions?: {
    NoCopy?: boolean;
    Labels?: Record<string, string> | null;
    DriverConfig?: { Name?: string; Options?: Record<string, string> | null } | null;
    /** API 1.45: mount this path inside the volume instead of its root. */
    Subpath?: string;
  } | null;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number } | null;
}

/** HostConfig.Devices entry. */
export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** HostConfig.DeviceRequests entry (`--gpus`). */
export interface DeviceRequest {
  Driver?: string;
  Count?: number;
  DeviceIDs?: string[] | null;
  Capabilities?: string[][] | null;
  Options?: Record<string, string> | null;
}

/** HostConfig.BlkioWeightDevice entry. */
export interface WeightDevice {
  Path: string;
  Weight: number;
}

/** HostConfig.BlkioDevice{Read,Write}{Bps,IOps} entry. */
export interface ThrottleDevice {
  Path: string;
  Rate: number;
}

/** The limits of HostConfig, and the body of POST /containers/{id}/update (with RestartPolicy). */
export interface Resources {
  CpuShares?: number;
  Memory?: number;
  NanoCpus?: number;
  CgroupParent?: string;
  BlkioWeight?: number;
  BlkioWeightDevice?: WeightDevice[] | null;
  BlkioDeviceReadBps?: ThrottleDevice[] | null;
  BlkioDeviceWriteBps?: ThrottleDevice[] | null;
  BlkioDeviceReadIOps?: ThrottleDevice[] | null;
  BlkioDeviceWriteIOps?: ThrottleDevice[] | null;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpuRealtimePeriod?: number;
  CpuRealtimeRuntime?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  Devices?: DeviceMapping[] | null;
  DeviceCgroupRules?: string[] | null;
  DeviceRequests?: DeviceRequest[] | null;
  KernelMemory?: number;
  KernelMemoryTCP?: number;
  MemoryReservation?: number;
  MemorySwap?: number;
  MemorySwappiness?: number | null;
  OomKillDisable?: boolean | null;
  PidsLimit?: number | null;
  Ulimits?: Ulimit[] | null;
  CpuCount?: number;
  CpuPercent?: number;
  IOMaximumIOps?: number;
  IOMaximumBandwidth?: number;
}

/** POST /containers/{id}/update body. */
export interface ContainerUpdateRequest extends Resources {
  RestartPolicy?: RestartPolicy | null;
}

/** HostConfig of POST /containers/create (Go: container.HostConfig). */
export interface HostConfig extends Resources {
  Binds?: string[] | null;
  ContainerIDFile?: string;
  LogConfig?: LogConfig | null;
  NetworkMode?: string;
  PortBindings?: PortMap | null;
  RestartPolicy?: RestartPolicy | null;
  AutoRemove?: boolean;
  VolumeDriver?: string;
  VolumesFrom?: string[] | null;
  /** [height, width] of the initial TTY. */
  ConsoleSize?: [number, number] | null;
  Annotations?: Record<string, string> | null;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  CgroupnsMode?: string;
  Dns?: string[] | null;
  DnsOptions?: string[] | null;
  DnsSearch?: string[] | null;
  ExtraHosts?: string[] | null;
  /** Supplementary groups: names (from the image's /etc/group) or numeric gids. */
  GroupAdd?: string[] | null;
  IpcMode?: string;
  Cgroup?: string;
  Links?: string[] | null;
  OomScoreAdj?: number;
  PidMode?: string;
  Privileged?: boolean;
  PublishAllPorts?: boolean;
  ReadonlyRootfs?: boolean;
  SecurityOpt?: string[] | null;
  StorageOpt?: Record<string, string> | null;
  Tmpfs?: Record<string, string> | null;
  UTSMode?: string;
  UsernsMode?: string;
  ShmSize?: number;
  Sysctls?: Record<string, string> | null;
  Runtime?: string;
  Isolation?: string;
  Mounts?: MountSpec[] | null;
  MaskedPaths?: string[] | null;
  ReadonlyPaths?: string[] | null;
  /** Run an init (docker-init, i.e. tini) as PID 1; null: the daemon's default (`--init`). */
  Init?: boolean | null;
}

/** A container's configuration: the top level of a create body, and inspect's Config (Go: container.Config). */
export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, Record<string, never>> | null;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Healthcheck?: HealthConfig | null;
  ArgsEscaped?: boolean;
  Image?: string;
  Volumes?: Record<string, Record<string, never>> | null;
  WorkingDir?: string;
  /** [] or [""]: no entrypoint (the image's is dropped). */
  Entrypoint?: string[] | null;
  NetworkDisabled?: boolean;
  /** Deprecated since API 1.44 (the endpoint's MacAddress replaces it); still honoured. */
  MacAddress?: string;
  OnBuild?: string[] | null;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number | null;
  Shell?: string[] | null;
}

/** NetworkingConfig of a create body: the endpoint settings per network name. */
export interface NetworkingConfig {
  EndpointsConfig?: Record<string, EndpointSettings | null> | null;
}

/** The body of POST /containers/create: Config, HostConfig and NetworkingConfig in one object. */
export interface ContainerCreateRequest extends ContainerConfig {
  HostConfig?: HostConfig | null;
  NetworkingConfig?: NetworkingConfig | null;
}

/** What berth's own clients send: every Config field set, as the docker CLI sends them. */
export interface ContainerCreateBody extends ContainerCreateRequest {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Image: string;
  Volumes: Record<string, Record<string, never>> | null;
  WorkingDir: string;
  Labels: Record<string, string>;
  HostConfig: HostConfig;
  NetworkingConfig: { EndpointsConfig: Record<string, EndpointSettings> };
}

/** POST /containers/create answer. */
export interface ContainerCreateResponse {
  Id: string;
  Warnings: string[] | null;
}

/** GET /containers/{id}/json (the fields the CLI reads; the rest is passed through). */
export interface ContainerInspect {
  Id: string;
  Name: string;
  Created: string;
  Path: string;
  Args: string[];
  Image: string;
  State: {
    Status: ContainerState;
    Running: boolean;
    Paused: boolean;
    Pid: number;
    ExitCode: number;
    Error: string;
    StartedAt: string;
    FinishedAt: string;
    [k: string]: unknown;
  };
  Config: ContainerConfig & { Tty: boolean; OpenStdin: boolean; Image: string };
  HostConfig: HostConfig;
  NetworkSettings?: {
    /** "80/tcp" → where it is published (null: exposed, not published). */
    Ports?: Record<string, PortBinding[] | null> | null;
    Networks?: Record<string, EndpointSettings> | null;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** POST /containers/{id}/wait answer. */
export interface ContainerWaitResponse {
  StatusCode: number;
  Error?: { Message: string } | null;
}

/** POST /containers/prune answer. */
export interface PruneContainersResponse {
  ContainersDeleted: string[] | null;
  SpaceReclaimed: number;
}

/** GET /containers/{id}/top answer. */
export interface ContainerTop {
  Titles: string[];
  Processes: string[][];
}

/** POST /containers/{id}/exec body (Go: container.ExecOptions). */
export interface ExecCreateRequest {
  User?: string;
  Privileged?: boolean;
  Tty?: boolean;
  ConsoleSize?: [number, number] | null;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  DetachKeys?: string;
  Env?: string[] | null;
  WorkingDir?: string;
  Cmd?: string[] | null;
  Detach?: boolean;
}

/** What berth's own clients send. */
export interface ExecCreateBody extends ExecCreateRequest {
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  Tty: boolean;
  Cmd: string[];
}

/** POST /exec/{id}/start body (Go: container.ExecStartOptions). */
export interface ExecStartRequest {
  Detach?: boolean;
  Tty?: boolean;
  ConsoleSize?: [number, number] | null;
}

/** GET /exec/{id}/json (the fields the CLI reads). */
export interface ExecInspect {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  ContainerID: string;
  [k: string]: unknown;
}

/** `X-Docker-Container-Path-Stat` of GET/HEAD /containers/{id}/archive (base64 JSON). */
export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode bits: permission bits plus type bits (1<<31 directory, 1<<27 symlink). */
  mode: number;
  mtime: string;
  linkTarget: string;
}

// ---------------------------------------------------------------------------
// Networks

/** One address pool of a network (POST /networks/create IPAM.Config, inspect). */
export interface IpamPool {
  Subnet?: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

export interface Ipam {
  Driver: string;
  Options: Record<string, string> | null;
  Config: IpamPool[] | null;
}

/** POST /networks/create body (Go: network.CreateRequest). */
export interface NetworkCreateRequest {
  Name: string;
  /** Deprecated: the daemon always refuses a duplicate name. */
  CheckDuplicate?: boolean;
  Driver?: string;
  Scope?: string;
  EnableIPv4?: boolean | null;
  EnableIPv6?: boolean | null;
  IPAM?: Partial<Ipam> | null;
  Internal?: boolean;
  Attachable?: boolean;
  Ingress?: boolean;
  ConfigOnly?: boolean;
  ConfigFrom?: { Network: string } | null;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

/** What the docker CLI (and berth's clients) send. */
export interface NetworkCreateBody extends NetworkCreateRequest {
  Driver: string;
  IPAM: Ipam;
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigOnly: boolean;
  ConfigFrom: { Network: string } | null;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** POST /networks/create answer. */
export interface NetworkCreateResponse {
  Id: string;
  Warning?: string;
}

/** A container's endpoint as a network's inspect lists it. */
export interface NetworkContainer {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

/** GET /networks/{id} (and each item of GET /networks, where Containers is empty). */
export interface NetworkInspect {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv6: boolean;
  IPAM: Ipam;
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom?: { Network: string };
  ConfigOnly?: boolean;
  Containers: Record<string, NetworkContainer> | null;
  Options: Record<string, string> | null;
  Labels: Record<string, string> | null;
}

export interface EndpointIpamConfig {
  IPv4Address?: string;
  IPv6Address?: string;
  LinkLocalIPs?: string[];
}

/**
 * A container's settings on one network: what create/connect ask for (aliases, addresses,
 * links, MAC) and what inspect reports (the assigned addresses and IDs).
 */
export interface EndpointSettings {
  IPAMConfig?: EndpointIpamConfig | null;
  Links?: string[] | null;
  Aliases?: string[] | null;
  MacAddress?: string;
  DriverOpts?: Record<string, string> | null;
  NetworkID?: string;
  EndpointID?: string;
  Gateway?: string;
  IPAddress?: string;
  IPPrefixLen?: number;
  IPv6Gateway?: string;
  GlobalIPv6Address?: string;
  GlobalIPv6PrefixLen?: number;
  DNSNames?: string[] | null;
}

/** POST /networks/{id}/connect body. */
export interface NetworkConnectBody {
  Container: string;
  EndpointConfig?: EndpointSettings | null;
}

/** POST /networks/{id}/disconnect body. */
export interface NetworkDisconnectBody {
  Container: string;
  Force?: boolean;
}

/** POST /networks/prune answer. */
export interface PruneNetworksResponse {
  NetworksDeleted: string[] | null;
}
