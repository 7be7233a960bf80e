/**
 * Host mounts through mount(8) and umount(8) (Node has no mount(2)), and the mount table as
 * /proc/self/mountinfo tells it. Shared by the container rootfs (overlay) and by volumes
 * (tmpfs, binds and devices of the `local` driver).
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { system } from './errors.js';

/** Runs a command without a shell; resolves with its exit code and trimmed stderr. */
export function runTool(cmd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr: Buffer.concat(err).toString('utf8').trim() }));
  });
}

/** Mount points (unescaped) from /proc/self/mountinfo. */
export async function mountPoints(): Promise<Set<string>> {
  const text = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp) out.add(mp.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

export async function isMounted(dir: string): Promise<boolean> {
  return (await mountPoints()).has(dir);
}

/** Unmounts `dir` if it is a mount point; a busy mount is detached lazily so removal can go on. */
export async function unmount(dir: string): Promise<void> {
  if (!(await isMounted(dir))) return;
  const r = await runTool('umount', [dir]);
  if (r.code !== 0 && (await isMounted(dir))) {
    const lazy = await runTool('umount', ['-l', dir]);
    if (lazy.code !== 0 && (await isMounted(dir))) throw system(`unmounting ${dir} failed: ${r.stderr || lazy.stderr}`);
  }
}
