/**
 * A step's container, through the same ContainerService `docker run` uses: RUN creates one from
 * the state the step runs on with the step's command, environment, user and working directory,
 * its --mount mounts and the build's network (the default bridge unless `networkmode` or
 * `RUN --network` says otherwise) and extra hosts, attaches to collect its output (stdout and
 * stderr apart), starts it and waits for the exit; COPY/ADD create one that never runs and write
 * into its mounted rootfs. Either way the container's overlay upper dir is the step's layer,
 * handed to the committer, after the mount points the runtime made for --mount are taken out
 * of it again (pruneMountPoints): a mount never leaves a trace in the image.
 */
import { execFile } from 'node:child_process';
import { promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
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
  /** HostConfig of the step's container: its mounts, network, extra hosts and resource limits. */
  hostConfig: Record<string, unknown>;
}

/** 1 = stdout, 2 = stderr. */
export type OutputSink = (chunk: Buffer, stream: 1 | 2) => void;

/** Splits stdcopy frames (8-byte header: stream, 0, 0, 0, uint32 BE length) back into their data. */
class Demux {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly out: OutputSink) {}
  push(b: Buffer): void {
    this.buf = this.buf.length === 0 ? b : Buffer.concat([this.buf, b]);
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) return;
      this.out(this.buf.subarray(8, 8 + size), this.buf[0] === 2 ? 2 : 1);
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
  async createRun(spec: RunSpec): Promise<string> {
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
      HostConfig: spec.hostConfig,
    });
    return Id;
  }

  /** Runs the created container to its end; returns the exit code. */
  async run(id: string, output: OutputSink, signal: AbortSignal): Promise<number> {
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

/** What the parent layers (top first) show at `rel`: the first layer holding it decides; a whiteout hides it. */
async function inLowers(lowers: string[], rel: string): Promise<Stats | undefined> {
  for (const dir of lowers) {
    const st = await fsp.lstat(path.join(dir, rel)).catch(() => undefined);
    if (st !== undefined) return st.isCharacterDevice() && st.rdev === 0 ? undefined : st;
  }
  return undefined;
}

/** An overlay upper dir marked opaque hides the lower dir's content: it is a change, never noise. */
function isOpaque(dir: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('getfattr', ['-h', '--only-values', '-n', 'trusted.overlay.opaque', dir], (err, stdout) => resolve(!err && stdout.trim() === 'y'));
  });
}

/**
 * Takes out of a RUN's upper dir what the runtime made only to mount something there: each
 * mount target (an empty directory or an empty file) and its parents that are empty, as long as
 * the parent layers did not have them, and a parent the layers did have when the overlay only
 * copied it up to make the mount point (empty here, same mode and owner, not opaque). Stops at
 * anything the command wrote, and at symlinks.
 */
export async function pruneMountPoints(upper: string, lowers: string[], targets: string[]): Promise<void> {
  const deepestFirst = [...targets].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const target of deepestFirst) {
    let rel = path.posix.normalize(target).replace(/^\/+/, '');
    if (rel === '' || rel.startsWith('..')) continue;
    // Only a path with no symlink on the way is ours to look at.
    let clean = true;
    for (let p = path.posix.dirname(rel); p !== '.'; p = path.posix.dirname(p)) {
      const st = await fsp.lstat(path.join(upper, p)).catch(() => undefined);
      if (st?.isSymbolicLink()) clean = false;
    }
    while (clean && rel !== '.' && rel !== '') {
      const host = path.join(upper, rel);
      const st = await fsp.lstat(host).catch(() => undefined);
      if (!st) break;
      const lower = await inLowers(lowers, rel);
      const emptyDir = st.isDirectory() && (await fsp.readdir(host)).length === 0;
      if (lower) {
        const copiedUp = emptyDir && lower.isDirectory() && lower.mode === st.mode && lower.uid === st.uid && lower.gid === st.gid && !(await isOpaque(host));
        if (!copiedUp) break;
        await fsp.rmdir(host);
      } else if (emptyDir) await fsp.rmdir(host);
      else if (st.isFile() && st.size === 0) await fsp.unlink(host);
      else break;
      rel = path.posix.dirname(rel);
    }
  }
}
