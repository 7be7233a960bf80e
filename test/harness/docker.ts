// The real docker CLI, pointed at a daemon, with no user configuration leaking in.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tailText, trackDir } from './util.js';

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DockerOptions {
  input?: string | Buffer;
  /** Default 120 s; on timeout the CLI is SIGKILLed and the promise rejects. */
  timeoutMs?: number;
  /** Applied last, so it can override DOCKER_CONFIG etc. */
  env?: Record<string, string>;
}

/** The docker CLI binary: $DOCKER_CLI or /usr/local/bin/docker (or `docker` on PATH). */
export function dockerCliPath(): string {
  if (process.env.DOCKER_CLI) return process.env.DOCKER_CLI;
  return existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker';
}

// One DOCKER_CONFIG dir per daemon object, so `docker login` followed by `docker pull` against the
// same daemon works, while separate daemons (and the user's ~/.docker) never share state.
const configDirs = new WeakMap<object, string>();

/** The isolated DOCKER_CONFIG dir used for this daemon handle (created on first use). */
export function dockerConfigDir(d: { dockerHost: string }): string {
  let dir = configDirs.get(d);
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'berth-docker-config-'));
    trackDir(dir);
    configDirs.set(d, dir);
  }
  return dir;
}

/** Runs the real docker CLI against `d` (no TTY; stdin is `input` or empty). Never throws on a non-zero exit. */
export function docker(d: { dockerHost: string }, args: string[], opts: DockerOptions = {}): Promise<DockerResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('DOCKER_') && k !== 'BUILDKIT_PROGRESS') env[k] = v;
  }
  Object.assign(env, {
    DOCKER_HOST: d.dockerHost,
    DOCKER_CONFIG: dockerConfigDir(d),
    DOCKER_CLI_HINTS: 'false',
    DOCKER_CLI_NO_TELEMETRY: '1',
    NO_COLOR: '1',
    ...(opts.env ?? {}),
  });
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const child = spawn(dockerCliPath(), args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) {
        reject(new Error(`docker ${args.join(' ')}: timed out after ${timeoutMs} ms\nstdout: ${tailText(stdout)}\nstderr: ${tailText(stderr)}`));
        return;
      }
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
    child.stdin.on('error', () => {
      /* the CLI may exit without reading its input */
    });
    child.stdin.end(opts.input ?? '');
  });
}
