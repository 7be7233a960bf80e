/**
 * A step's container, through the same ContainerService `docker run` uses (Contract 3): RUN
 * creates one from the current image with the step's command, environment, user and working
 * directory on the default network, attaches to collect its output, starts it and waits for the
 * exit; COPY/ADD create one that never runs and write into its mounted rootfs. Either way the
 * container's overlay upper dir is the step's layer, handed to the committer.
 */
import type { Digest } from '../common/digest.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ContainerService } from '../containers/service.js';
import type { ContainerConfig } from '../images/config.js';

/** The parts of ContainerService a build uses. */
export type StepContainers = Pick<ContainerService, 'create' | 'start' | 'wait' | 'attach' | 'remove' | 'fs'>;

export interface RunSpec {
  image: Digest;
  cmd: string[];
  config: ContainerConfig;
  /** Build arguments the command sees as environment (ENV of the same name wins). */
  argEnv: string[];
  output: (chunk: Buffer) => void;
  signal: AbortSignal;
}

/** Splits stdcopy frames (8-byte header: stream, 0, 0, 0, uint32 BE length) back into their data. */
class Demux {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly out: (b: Buffer) => void) {}
  push(b: Buffer): void {
    this.buf = this.buf.length === 0 ? b : Buffer.concat([this.buf, b]);
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) return;
      this.out(this.buf.subarray(8, 8 + size));
      this.buf = this.buf.subarray(8 + size);
    }
  }
}

export class StepRunner {
  constructor(
    private readonly containers: StepContainers,
    private readonly log: Logger,
  ) {}

  /** Creates the RUN container (not started yet); its ID is shown before the output. */
  async createRun(spec: Omit<RunSpec, 'output' | 'signal'>): Promise<string> {
    const env = spec.config.Env ?? [];
    const names = new Set(env.map((kv) => kv.split('=', 1)[0]));
    const { Id } = await this.containers.create(undefined, {
      Image: spec.image,
      Entrypoint: [],
      Cmd: spec.cmd,
      Env: [...env, ...spec.argEnv.filter((kv) => !names.has(kv.split('=', 1)[0]))],
      User: spec.config.User ?? '',
      WorkingDir: spec.config.WorkingDir ?? '',
      Labels: {},
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      OpenStdin: false,
      HostConfig: {},
    });
    return Id;
  }

  /** Runs the created container to its end; returns the exit code. */
  async run(id: string, output: (chunk: Buffer) => void, signal: AbortSignal): Promise<number> {
    const demux = new Demux(output);
    const attachment = await this.containers.attach(id, { stream: true, logs: false, stdin: false, stdout: true, stderr: true }, () => ({
      write: (b) => demux.push(b),
      end: () => undefined,
    }));
    const exit = this.containers.wait(id, 'next-exit').result;
    const onAbort = (): void => void this.containers.remove(id, { force: true, volumes: true }).catch(() => undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      // Cancelled before it started: the caller removes the container (the listener above only
      // hears aborts that come later).
      if (signal.aborted) {
        exit.catch(() => undefined);
        signal.throwIfAborted();
      }
      await this.containers.start(id);
      // Exit processing ends the output sinks before it tells waiters: all output is in by now.
      return await exit;
    } finally {
      signal.removeEventListener('abort', onAbort);
      attachment.detach();
    }
  }

  /** A container that only holds the step's filesystem changes (COPY, ADD). */
  async createHolder(image: Digest): Promise<string> {
    const { Id } = await this.containers.create(undefined, {
      Image: image,
      Entrypoint: [],
      Cmd: ['/nonexistent'],
      Labels: {},
      HostConfig: { NetworkMode: 'none' },
    });
    return Id;
  }

  upperDir(id: string): string {
    return this.containers.fs.fsInfo(id).upperDir;
  }

  withRootfs<T>(id: string, fn: (rootfs: string) => Promise<T>): Promise<T> {
    return this.containers.fs.withRootfs(id, fn);
  }

  async remove(id: string): Promise<void> {
    await this.containers.remove(id, { force: true, volumes: true }).catch((err: unknown) => {
      this.log.warn('removing a build container failed', { id, err: errorMessage(err) });
    });
  }
}
