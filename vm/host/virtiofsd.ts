/**
 * virtiofsd: the host side of a virtio-fs share, one process per shared folder, which qemu talks
 * to over a vhost-user socket. Debian 12 ships the C virtiofsd with qemu (/usr/lib/qemu/virtiofsd,
 * QEMU 7.2); newer systems have the Rust one (/usr/libexec/virtiofsd, its own package). Both need
 * root here: they sandbox themselves in namespaces (the Rust one can run unprivileged, but is not
 * what this project tests). Where none can run, shares fall back to 9p.
 *
 * Caching: cache=auto. Names and attributes are cached for a second and file data is revalidated
 * on open, which is what makes a `find` over node_modules fast; the price, as with NFS's attribute
 * cache, is a one-second window: a file the host changes within a second of the guest last looking
 * at it can still show its old size (a read stops at the old length). After that it reads in full.
 * DAX (mapping host page cache into the guest) is not in upstream QEMU 7.2, so it is not used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsc, promises as fsp } from 'node:fs';

const CANDIDATES = ['/usr/libexec/virtiofsd', '/usr/lib/qemu/virtiofsd'];

/** The virtiofsd to use on this host, or undefined (then shares use 9p). */
export async function findVirtiofsd(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): Promise<string | undefined> {
  if (platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  const wanted = env['BERTH_VIRTIOFSD'];
  for (const p of wanted ? [wanted] : CANDIDATES) {
    if (await fsp.access(p, fsc.X_OK).then(() => true, () => false)) return p;
  }
  return undefined;
}

/**
 * The most files a virtiofsd started by this process can hold open: its hard RLIMIT_NOFILE (it
 * raises its soft limit up to that). The C virtiofsd keeps a descriptor open for every file and
 * directory the guest has looked up and not yet forgotten, so a tree with more entries than this
 * fails in the guest with "Too many open files". undefined where unknown (not Linux).
 */
export async function openFileLimit(): Promise<number | undefined> {
  const limits = await fsp.readFile('/proc/self/limits', 'utf8').catch(() => undefined);
  const m = limits && /^Max open files\s+\S+\s+(\S+)/m.exec(limits);
  if (!m) return undefined;
  return m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/** The command line for one share (the C and the Rust virtiofsd take different spellings). */
export function virtiofsdArgs(binary: string, socketPath: string, dir: string): string[] {
  if (binary.endsWith('/lib/qemu/virtiofsd')) {
    // The C daemon's options go through -o, comma-separated: a comma in the path cannot be given.
    if (dir.includes(',')) throw new Error(`virtiofsd cannot share a folder whose path has a comma: ${dir}`);
    // No thread pool (requests served on the queue's thread): faster for the many small metadata
    // requests of a find or a git status.
    return [`--socket-path=${socketPath}`, '-o', `source=${dir}`, '-o', 'cache=auto'];
  }
  return ['--socket-path', socketPath, '--shared-dir', dir, '--cache', 'auto'];
}

export interface VirtiofsDaemon {
  process: ChildProcess;
  socket: string;
  stop(): Promise<void>;
}

/** Starts one virtiofsd and waits for its socket (qemu must find it listening). */
export async function startVirtiofsd(binary: string, socketPath: string, dir: string, log: (line: string) => void): Promise<VirtiofsDaemon> {
  await fsp.rm(socketPath, { force: true });
  const child = spawn(binary, virtiofsdArgs(binary, socketPath, dir), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-2000);
    for (const line of d.toString('utf8').trimEnd().split('\n')) log(`virtiofsd ${dir}: ${line}`);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (err) => {
      stderr += err.message;
      resolve(-1);
    });
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await fsp.rm(socketPath, { force: true });
  };
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; i < 200; i++) {
    if (gone) throw new Error(`virtiofsd for ${dir} exited: ${stderr.trim().split('\n').pop() ?? ''}`);
    if (await fsp.access(socketPath).then(() => true, () => false)) return { process: child, socket: socketPath, stop };
    await new Promise((r) => setTimeout(r, 25));
  }
  await stop();
  throw new Error(`virtiofsd for ${dir} did not create its socket within 5 s`);
}
