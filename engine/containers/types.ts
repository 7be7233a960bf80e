import type { ContainerConfig, EndpointSettings, HostConfig } from '../../types/engine-api.js';
import type { Digest } from '../common/digest.js';

export interface RestartPolicy {
  Name: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount: number;
}

/** A container's log driver and options after the daemon's defaults ("json-file", "local", "none"...). */
export interface PlannedLogConfig {
  Type: string;
  Config: Record<string, string>;
}

/**
 * HostConfig as create settles it (create-plan.ts, then the network settling): the request's
 * fields, checked, with the defaults dockerd fills in.
 */
export interface PlannedHostConfig extends HostConfig {
  /** "bridge", a user network's name, "none", "host" or "container:<full id>". */
  NetworkMode: string;
  RestartPolicy: RestartPolicy;
  LogConfig: PlannedLogConfig;
  Runtime: string;
}

/**
 * The process's status. A paused container is 'running' with State.Paused set (the process
 * exists, frozen); 'restarting' is the wait between an exit and the restart its policy asks for.
 */
export type ContainerStatus = 'created' | 'running' | 'restarting' | 'exited' | 'removing' | 'dead';

export interface ContainerState {
  Status: ContainerStatus;
  Pid: number;
  ExitCode: number;
  Error: string;
  OOMKilled: boolean;
  /** Frozen (docker pause); only while Status is 'running'. */
  Paused?: boolean;
  StartedAt: string;
  FinishedAt: string;
  /** The health check's state (health.ts); absent for containers without one (or with NONE). */
  Health?: HealthState;
}

/** inspect's State.Health: status, consecutive failures and the last probes, oldest first. */
export interface HealthState {
  Status: 'starting' | 'healthy' | 'unhealthy';
  FailingStreak: number;
  Log: HealthLogEntry[];
}

export interface HealthLogEntry {
  /** RFC 3339 with nanoseconds, as dockerd writes times. */
  Start: string;
  End: string;
  /** The probe's exit code; -1 when it timed out or could not be run. */
  ExitCode: number;
  Output: string;
}

/**
 * What `<data-root>/containers/<id>/config.json` holds: the plan create settled on (Config,
 * HostConfig, the endpoints, the command, the mounts) and the container's state. Version 1
 * records (the create body as received, before the typed request path) are upgraded when they
 * are read (records.ts); they are written back as version 2.
 */
export interface ContainerRecord {
  version: 2;
  Id: string;
  /** Without the leading slash. */
  Name: string;
  Created: string;
  /** The image as the client named it. */
  Image: string;
  ImageID: Digest;
  /** Config as inspect shows it: the request's over the image's (create-config.ts). */
  Config: ContainerConfig;
  HostConfig: PlannedHostConfig;
  /** The networks the container is on, keyed by name, with its settings there; connect and disconnect edit this. */
  Endpoints: Record<string, EndpointSettings>;
  Path: string;
  Args: string[];
  State: ContainerState;
  RestartCount: number;
  /** docker stop/kill: keeps restart policies from restarting it (see restart.ts). */
  HasBeenManuallyStopped?: boolean;
  HasBeenStartedBefore?: boolean;
  MountPoints: MountPoint[];
}

/**
 * One of a container's mounts, resolved at create (inspect's `Mounts` shows the public fields).
 * Binds, volumes and tmpfs from HostConfig.Binds/Mounts/Tmpfs/VolumesFrom, Config.Volumes and
 * the image's VOLUMEs all end up as a list of these in the record.
 */
export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  /** The volume's name (Type volume). */
  Name?: string;
  /** Host path: the bind source or the volume's `_data`; '' for tmpfs. */
  Source: string;
  Destination: string;
  Driver?: string;
  /** The mode as given with -v (`ro`, `z`...); '' for --mount. */
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** Copy the image's content at the destination into the (empty) volume at the next start. */
  CopyUp?: boolean;
  /** A volume made for this container alone (removed with `rm -v` and `--rm`). */
  Anonymous?: boolean;
  /** -v binds: a missing host directory is created at start (--mount binds must exist). */
  CreateSource?: boolean;
  /** BindOptions.NonRecursive: a plain bind, without the mounts below the source. */
  NonRecursive?: boolean;
  /** tmpfs mount options after Docker's defaults (size=, mode=, exec...). */
  TmpfsOptions?: string[];
  /** HostConfig.Tmpfs entries: mounted, but not listed in inspect's Mounts (as in Docker). */
  Hidden?: boolean;
  /** VolumeOptions.Subpath: the directory (or file) inside the volume that is mounted instead of its root. */
  Subpath?: string;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export interface AttachOptions {
  stream: boolean;
  logs: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** Where attach output goes: already framed (stdcopy) unless the container has a TTY. */
export interface AttachSink {
  write(data: Buffer): void;
  end(): void;
}

export interface LogsOptions {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  /** Lines from the end; undefined = all. */
  tail?: number;
  timestamps: boolean;
  /** Seconds since the epoch (fractional allowed); 0/undefined = unbounded. */
  since?: number;
  until?: number;
  signal?: AbortSignal;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';
