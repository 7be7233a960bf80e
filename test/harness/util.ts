// Shared plumbing for the test harness: running tools, temp dirs, free ports,
// and making sure child processes never outlive the test process.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RunResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Runs a program to completion, collecting its output. Never throws on a non-zero exit. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs)
        : undefined;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      if (e.code === 'ENOENT') reject(new Error(`${cmd}: not found (is it installed?)`));
      else reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const res: RunResult = { code: code ?? -1, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
      if (timedOut) {
        reject(
          new Error(
            `${cmd} ${args.join(' ')}: timed out after ${opts.timeoutMs} ms\nstdout: ${tailText(res.stdout.toString())}\nstderr: ${tailText(res.stderr.toString())}`,
          ),
        );
        return;
      }
      resolve(res);
    });
    child.stdin.on('error', () => {
      /* the program may exit without reading its input */
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Runs a program and throws (with its stderr) unless it exits 0. Returns stdout. */
export async function runOk(cmd: string, args: string[], opts: RunOptions = {}): Promise<Buffer> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} exited ${r.code}${r.signal ? ` (${r.signal})` : ''}\n${tailText(r.stderr.toString() || r.stdout.toString())}`,
    );
  }
  return r.stdout;
}

const INSTALL_HINT: Record<string, string> = {
  'docker-registry': 'apt-get install docker-registry',
  skopeo: 'apt-get install skopeo',
  htpasswd: 'apt-get install apache2-utils',
  openssl: 'apt-get install openssl',
  zstd: 'apt-get install zstd',
  'dpkg-deb': 'dpkg-deb comes with dpkg',
  'apt-get': 'this harness needs a Debian system',
};

/** Absolute path of a program on PATH, or a clear error telling how to install it. */
export function requireTool(name: string): string {
  if (name.includes('/')) {
    if (existsSync(name)) return name;
    throw new Error(`required program ${name} is missing`);
  }
  const dirs = (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':');
  for (const d of [...dirs, '/usr/local/sbin', '/usr/sbin', '/sbin']) {
    const p = join(d, name);
    if (d && existsSync(p)) return p;
  }
  const hint = INSTALL_HINT[name];
  throw new Error(`required program "${name}" is not installed${hint ? ` (${hint})` : ''}`);
}

/** Finds a free TCP port on 127.0.0.1 by binding port 0 and releasing it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not determine a free port'));
        return;
      }
      const port = addr.port;
      srv.close(() => resolve(port));
    });
  });
}

/** Creates a fresh temp dir, /tmp/<prefix>XXXXXX. */
export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    // A tree deeper than PATH_MAX (a test container made one): rm(1) walks with openat.
    if ((err as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw err;
    await runOk('rm', ['-rf', '--one-file-system', '--', dir]);
  }
}

/** The last `lines` lines of a text. */
export function tailText(s: string, lines = 30): string {
  const all = s.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

/** The last ~`bytes` bytes of a file, as text; '' if it can't be read. */
export async function tailFile(path: string, bytes = 4096): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const start = Math.max(0, size - bytes);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      return buf.toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The repository root: the nearest ancestor of this file holding the berth package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const name = (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name;
        if (name === 'berth') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('could not find the berth repository root');
    dir = up;
  }
}

/** `<repo>/.cache/<sub>` (gitignored). */
export function cacheDir(sub: string): string {
  return join(repoRoot(), '.cache', sub);
}

// ---- child processes and dirs that must not outlive the test process ----

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of liveChildren) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
    let mounts: string[] = [];
    try {
      mounts = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4] ?? '');
    } catch {
      /* no procfs: nothing to check */
    }
    for (const d of liveDirs) {
      // Never rm -rf into a tree that still has something mounted in it (a killed daemon's
      // overlays or bind mounts): leave such a dir behind instead.
      if (mounts.some((m) => m === d || m.startsWith(d + '/'))) continue;
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
}

/** Spawns a long-running child that is SIGKILLed if the test process exits without stopping it. */
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions): ChildProcess {
  installExitHook();
  const child = spawn(cmd, args, opts);
  liveChildren.add(child);
  child.on('exit', () => liveChildren.delete(child));
  child.on('error', () => liveChildren.delete(child));
  return child;
}

/** Registers a dir to be removed (synchronously) when the process exits, unless untracked before. */
export function trackDir(dir: string): void {
  installExitHook();
  liveDirs.add(dir);
}

export function untrackDir(dir: string): void {
  liveDirs.delete(dir);
}

/** Resolves with the exit code (null when killed by a signal) once the child has exited. */
export function waitExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Signals a child and waits for it to exit; escalates to SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = waitExit(child);
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns true or the deadline passes. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

/** Maps Node's process.arch to the Go/OCI architecture name. */
export function goArch(arch: string = process.arch): string {
  switch (arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    case 'arm64':
      return 'arm64';
    case 'arm':
      return 'arm';
    case 'ppc64':
      return 'ppc64le';
    case 's390x':
      return 's390x';
    case 'riscv64':
      return 'riscv64';
    default:
      return arch;
  }
}
