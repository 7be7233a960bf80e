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
