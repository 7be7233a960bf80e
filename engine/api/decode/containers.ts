/**
 * Schemas of the container request bodies: create (Config + HostConfig + NetworkingConfig),
 * update, exec create and start, and the container config a commit may carry. Field by field
 * after moby's api/types (container, mount, network, blkiodev, go-units), with the Go type
 * names dockerd's decode errors mention.
 */
import type {
  ContainerConfig,
  ContainerCreateRequest,
  ContainerUpdateRequest,
  DeviceMapping,
  DeviceRequest,
  EndpointIpamConfig,
  EndpointSettings,
  ExecCreateRequest,
  ExecStartRequest,
  HealthConfig,
  HostConfig,
  LogConfig,
  MountSpec,
  NetworkingConfig,
  PortBinding,
  Resources,
  RestartPolicy,
  ThrottleDevice,
  Ulimit,
  WeightDevice,
} from '../../../types/engine-api.js';
import {
  bool,
  duration,
  int,
  int64,
  integer,
  list,
  map,
  namedString,
  pair,
  set,
  string,
  stringMap,
  strSlice,
  struct,
  uint16,
  uint64,
  type Fields,
} from './codec.js';

const strings = list(string);

export const healthConfig = struct<HealthConfig>('container.HealthConfig', {
  Test: strings,
  Interval: duration,
  Timeout: duration,
  StartPeriod: duration,
  StartInterval: duration,
  Retries: int,
}, {});

/** container.Config's fields (promoted into CreateRequest, whose name then shows in messages). */
export const configFields: Fields<ContainerConfig> = {
  Hostname: string,
  Domainname: string,
  User: string,
  AttachStdin: bool,
  AttachStdout: bool,
  AttachStderr: bool,
  ExposedPorts: set('nat.PortSet'),
  Tty: bool,
  OpenStdin: bool,
  StdinOnce: bool,
  Env: strings,
  Cmd: strSlice,
  Healthcheck: healthConfig,
  ArgsEscaped: bool,
  Image: string,
  Volumes: set('map[string]struct {}'),
  WorkingDir: string,
  Entrypoint: strSlice,
  NetworkDisabled: bool,
  MacAddress: string,
  OnBuild: strings,
  Labels: stringMap,
  StopSignal: string,
  StopTimeout: int,
  Shell: strSlice,
};

export const containerConfig = struct<ContainerConfig>('container.Config', configFields, {});

const weightDevice = struct<WeightDevice>('blkiodev.WeightDevice', { Path: string, Weight: uint16 }, { Path: '', Weight: 0 });
const throttleDevice = struct<ThrottleDevice>('blkiodev.ThrottleDevice', { Path: string, Rate: uint64 }, { Path: '', Rate: 0 });
const throttleList = list(throttleDevice, '[]*blkiodev.ThrottleDevice');

/** container.Resources' fields (embedded in HostConfig and in UpdateConfig). */
export const resourceFields: Fields<Resources> = {
  CpuShares: int64,
  Memory: int64,
  NanoCpus: int64,
  CgroupParent: string,
  BlkioWeight: uint16,
  BlkioWeightDevice: list(weightDevice, '[]*blkiodev.WeightDevice'),
  BlkioDeviceReadBps: throttleList,
  BlkioDeviceWriteBps: throttleList,
  BlkioDeviceReadIOps: throttleList,
  BlkioDeviceWriteIOps: throttleList,
  CpuPeriod: int64,
  CpuQuota: int64,
  CpuRealtimePeriod: int64,
  CpuRealtimeRuntime: int64,
  CpusetCpus: string,
  CpusetMems: string,
  Devices: list(struct<DeviceMapping>('container.DeviceMapping', { PathOnHost: string, PathInContainer: string, CgroupPermissions: string }, { PathOnHost: '', PathInContainer: '', CgroupPermissions: '' }, { zero: true })),
  DeviceCgroupRules: strings,
  DeviceRequests: list(
    struct<DeviceRequest>('container.DeviceRequest', { Driver: string, Count: int, DeviceIDs: strings, Capabilities: list(strings), Options: stringMap }, {}, { zero: true }),
  ),
  KernelMemory: int64,
  KernelMemoryTCP: int64,
  MemoryReservation: int64,
  MemorySwap: int64,
  MemorySwappiness: int64,
  OomKillDisable: bool,
  PidsLimit: int64,
  Ulimits: list(struct<Ulimit>('units.Ulimit', { Name: string, Hard: int64, Soft: int64 }, { Name: '', Hard: 0, Soft: 0 }), '[]*units.Ulimit'),
  CpuCount: int64,
  CpuPercent: int64,
  IOMaximumIOps: uint64,
  IOMaximumBandwidth: uint64,
};

export const restartPolicy = struct<RestartPolicy>('container.RestartPolicy', {
  Name: namedString('container.RestartPolicyMode'),
  MaximumRetryCount: int,
}, { Name: '' });

const logConfig = struct<LogConfig>('container.LogConfig', { Type: string, Config: stringMap }, { Type: '', Config: {} });

const portBinding = struct<PortBinding>('nat.PortBinding', { HostIp: string, HostPort: string }, { HostIp: '', HostPort: '' }, { zero: true });

type BindOptions = NonNullable<MountSpec['BindOptions']>;
type VolumeOptions = NonNullable<MountSpec['VolumeOptions']>;
type VolumeDriver = NonNullable<VolumeOptions['DriverConfig']>;
type TmpfsOptions = NonNullable<MountSpec['TmpfsOptions']>;

export const mountSpec = struct<MountSpec>(
  'mount.Mount',
  {
    Type: namedString('mount.Type'),
    Source: string,
    Target: string,
    ReadOnly: bool,
    Consistency: namedString('mount.Consistency'),
    BindOptions: struct<BindOptions>('mount.BindOptions', {
      Propagation: namedString('mount.Propagation'),
      NonRecursive: bool,
      CreateMountpoint: bool,
      ReadOnlyNonRecursive: bool,
      ReadOnlyForceRecursive: bool,
    }, {}),
    VolumeOptions: struct<VolumeOptions>('mount.VolumeOptions', {
      NoCopy: bool,
      Labels: stringMap,
      DriverConfig: struct<VolumeDriver>('mount.Driver', { Name: string, Options: stringMap }, {}),
      Subpath: string,
    }, {}),
    TmpfsOptions: struct<TmpfsOptions>('mount.TmpfsOptions', { SizeBytes: int64, Mode: integer('fs.FileMode', [0, 2 ** 32 - 1]) }, {}),
  },
  { Type: '', Target: '' },
  { zero: true },
);

export const hostConfig = struct<HostConfig>('container.HostConfig', {
  ...resourceFields,
  Binds: strings,
  ContainerIDFile: string,
  LogConfig: logConfig,
  NetworkMode: namedString('container.NetworkMode'),
  PortBindings: map(list(portBinding), 'nat.PortMap'),
  RestartPolicy: restartPolicy,
  AutoRemove: bool,
  VolumeDriver: string,
  VolumesFrom: strings,
  ConsoleSize: pair(integer('uint'), 0, '[2]uint'),
  Annotations: stringMap,
  CapAdd: strSlice,
  CapDrop: strSlice,
  CgroupnsMode: namedString('container.CgroupnsMode'),
  Dns: strings,
  DnsOptions: strings,
  DnsSearch: strings,
  ExtraHosts: strings,
  GroupAdd: strings,
  IpcMode: namedString('container.IpcMode'),
  Cgroup: namedString('container.CgroupSpec'),
  Links: strings,
  OomScoreAdj: int,
  PidMode: namedString('container.PidMode'),
  Privileged: bool,
  PublishAllPorts: bool,
  ReadonlyRootfs: bool,
  SecurityOpt: strings,
  StorageOpt: stringMap,
  Tmpfs: stringMap,
  UTSMode: namedString('container.UTSMode'),
  UsernsMode: namedString('container.UsernsMode'),
  ShmSize: int64,
  Sysctls: stringMap,
  Runtime: string,
  Isolation: namedString('container.Isolation'),
  Mounts: list(mountSpec),
  MaskedPaths: strings,
  ReadonlyPaths: strings,
  Init: bool,
}, {});

const endpointIpamConfig = struct<EndpointIpamConfig>('network.EndpointIPAMConfig', {
  IPv4Address: string,
  IPv6Address: string,
  LinkLocalIPs: strings,
}, {});

export const endpointSettings = struct<EndpointSettings>('network.EndpointSettings', {
  IPAMConfig: endpointIpamConfig,
  Links: strings,
  Aliases: strings,
  MacAddress: string,
  DriverOpts: stringMap,
  NetworkID: string,
  EndpointID: string,
  Gateway: string,
  IPAddress: string,
  IPPrefixLen: int,
  IPv6Gateway: string,
  GlobalIPv6Address: string,
  GlobalIPv6PrefixLen: int,
  DNSNames: strings,
}, {});

const networkingConfig = struct<NetworkingConfig>('network.NetworkingConfig', {
  EndpointsConfig: map(endpointSettings, 'map[string]*network.EndpointSettings'),
}, {});

/** POST /containers/create. */
export const createRequest = struct<ContainerCreateRequest>('container.CreateRequest', {
  ...configFields,
  HostConfig: hostConfig,
  NetworkingConfig: networkingConfig,
}, {});

/** The body of POST /commit: dockerd decodes it as a create request and keeps its Config. */
export const commitConfig = struct<ContainerConfig>('container.CreateRequest', configFields, {});

/** POST /containers/{id}/update. */
export const updateRequest = struct<ContainerUpdateRequest>('container.UpdateConfig', {
  ...resourceFields,
  RestartPolicy: restartPolicy,
}, {});

const consoleSize = pair(integer('uint'), 0, '[2]uint');

/** POST /containers/{id}/exec. */
export const execCreateRequest = struct<ExecCreateRequest>('container.ExecOptions', {
  User: string,
  Privileged: bool,
  Tty: bool,
  ConsoleSize: consoleSize,
  AttachStdin: bool,
  AttachStdout: bool,
  AttachStderr: bool,
  DetachKeys: string,
  Env: strings,
  WorkingDir: string,
  Cmd: strings,
  Detach: bool,
}, {});

/** POST /exec/{id}/start. */
export const execStartRequest = struct<ExecStartRequest>('container.ExecStartOptions', {
  Detach: bool,
  Tty: bool,
  ConsoleSize: consoleSize,
}, {});
