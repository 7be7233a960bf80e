import type { Digest } from '../common/digest.js';
import type { RuntimeCreateConfig, RuntimeHostConfig } from '../runtime/types.js';

/** HostConfig of POST /containers/create: what the runtime uses, plus what containers handle. */
export type CreateHostConfig = RuntimeHostConfig & {
  AutoRemove?: boolean;
  RestartPolicy?: RestartPolicy;
  [k: string]: unknown;
};

/** The body of POST /containers/create (the parts Berth reads; the rest is kept verbatim). */
export type CreateBody = Omit<RuntimeCreateConfig, 'HostConfig'> & {
  Image?: string;
  Labels?: Record<string, string> | null;
  StopTimeout?: number | null;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  StdinOnce?: boolean;
  HostConfig?: CreateHostConfig;
  [k: string]: unknown;
};

export interface RestartPolicy {
  Name: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount: number;
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

/** What `<data-root>/containers/<id>/config.json` holds. */
export interface ContainerRecord {
  version: 1;
  Id: string;
  /** Without the leading slash. */
  Name: string;
  Created: string;
  /** The image as the client named it. */
  Image: string;
  ImageID: Digest;
  /** The create body as received (HostConfig included). */
  Create: CreateBody;
  /** Config as inspect shows it: the create body merged with the image's config. */
  Config: Record<string, unknown>;
  Path: string;
  Args: string[];
  State: ContainerState;
  RestartCount: number;
  /** docker stop/kill: keeps restart policies from restarting it (see restart.ts). */
  HasBeenManuallyStopped?: boolean;
  HasBeenStartedBefore?: boolean;
  /** Resolved at create; absent in records written before volumes existed (no mounts). */
  MountPoints?: MountPoint[];
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
