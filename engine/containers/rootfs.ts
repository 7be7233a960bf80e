/**
 * A container's root filesystem: an overlay of the image's layer directories (read-only
 * lowers, top layer first) with a per-container upper and work dir. Node has no mount(2), so
 * mount(8) and umount(8) do the work.
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { system } from '../common/errors.js';

function run(cmd: string, args: string[]): Promise<{ code: number; stderr: string }> {
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

export interface OverlayDirs {
  /** Layer diff dirs, top layer first. */
  lowers: string[];
  upper: string;
  work: string;
  merged: string;
}

export async function mountOverlay(d: OverlayDirs): Promise<void> {
  await Promise.all([d.upper, d.work, d.merged].map((p) => fsp.mkdir(p, { recursive: true, mode: 0o755 })));
  if (await isMounted(d.merged)) return;
  if (d.lowers.length === 0) throw system('image has no layers');
  for (const l of d.lowers) if (/[,:]/.test(l)) throw system(`layer path not usable in overlay options: ${l}`);
  const opts = `lowerdir=${d.lowers.join(':')},upperdir=${d.upper},workdir=${d.work}`;
  const r = await run('mount', ['-t', 'overlay', 'overlay', '-o', opts, d.merged]);
  if (r.code !== 0) throw system(`mounting the container's root filesystem failed: ${r.stderr || `exit ${r.code}`}`);
}

export async function unmount(dir: string): Promise<void> {
  if (!(await isMounted(dir))) return;
  const r = await run('umount', [dir]);
  if (r.code !== 0 && (await isMounted(dir))) {
    // Busy (a process still holds it): detach lazily so removal can go on.
    const lazy = await run('umount', ['-l', dir]);
    if (lazy.code !== 0 && (await isMounted(dir))) throw system(`unmounting ${dir} failed: ${r.stderr || lazy.stderr}`);
  }
}
