/**
 * Finding the guest image: the kernel, initramfs and root filesystem that vm/build.sh produces,
 * described by its manifest.json. Looked for in BERTH_VM_IMAGE, then next to the app (packaged
 * builds put it in resources/vm/<arch>), then in a source checkout's vm/out/<arch>.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type GuestArch = 'x86_64' | 'aarch64';

export interface VmImage {
  dir: string;
  arch: GuestArch;
  version: string;
  kernel: string;
  initrd: string;
  rootfs: string;
  console: string;
  compressedBytes?: number;
  /** The blank ext4 data disk (qcow2) a new VM starts from, and the size it was made at. */
  dataDisk?: { file: string; sizeGiB: number };
}

/** The guest architecture matching this host's CPU. */
export function guestArch(hostArch: string = process.arch): GuestArch {
  if (hostArch === 'x64') return 'x86_64';
  if (hostArch === 'arm64') return 'aarch64';
  throw new Error(`the Berth VM runs on x86_64 and arm64 hosts, not ${hostArch}`);
}

/**
 * The guest architecture to boot: the host's, unless BERTH_VM_ARCH names the other one. A foreign
 * guest runs under TCG only (the arm64 image is built and tested that way on x86_64 machines).
 */
export function wantedGuestArch(env: NodeJS.ProcessEnv = process.env, hostArch: string = process.arch): GuestArch {
  const asked = env['BERTH_VM_ARCH'];
  if (!asked) return guestArch(hostArch);
  if (asked !== 'x86_64' && asked !== 'aarch64') throw new Error(`BERTH_VM_ARCH must be x86_64 or aarch64, not ${asked}`);
  return asked;
}

const CHECKOUT_OUT = fileURLToPath(new URL('../../../vm/out', import.meta.url));

export function imageCandidates(arch: GuestArch, env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs: string[] = [];
  if (env['BERTH_VM_IMAGE']) dirs.push(env['BERTH_VM_IMAGE']);
  const resources = (process as NodeJS.Process & { resourcesPath?: string }).resourcesPath;
  if (resources) dirs.push(path.join(resources, 'vm', arch));
  dirs.push(path.join(CHECKOUT_OUT, arch));
  return dirs;
}

export async function findImage(arch: GuestArch, env: NodeJS.ProcessEnv = process.env): Promise<VmImage> {
  const tried: string[] = [];
  for (const dir of imageCandidates(arch, env)) {
    tried.push(dir);
    const text = await fsp.readFile(path.join(dir, 'manifest.json'), 'utf8').catch(() => undefined);
    if (!text) continue;
    const m = JSON.parse(text) as Record<string, unknown>;
    const file = (key: string): string => {
      const v = m[key];
      if (typeof v !== 'string' || v.includes('/')) throw new Error(`${dir}/manifest.json: "${key}" must name a file in the image directory`);
      return path.join(dir, v);
    };
    if (m['arch'] !== arch) throw new Error(`${dir} holds a ${String(m['arch'])} image; this host needs ${arch}`);
    const image: VmImage = {
      dir,
      arch,
      version: typeof m['version'] === 'string' ? m['version'] : 'unknown',
      kernel: file('kernel'),
      initrd: file('initrd'),
      rootfs: file('rootfs'),
      console: typeof m['console'] === 'string' ? m['console'] : arch === 'aarch64' ? 'ttyAMA0' : 'ttyS0',
      ...(typeof m['compressedBytes'] === 'number' ? { compressedBytes: m['compressedBytes'] } : {}),
    };
    const data = m['dataDisk'] as { file?: unknown; sizeGiB?: unknown } | undefined;
    if (data && typeof data.file === 'string' && !data.file.includes('/') && typeof data.sizeGiB === 'number') {
      const file = path.join(dir, data.file);
      if (await fsp.access(file).then(() => true, () => false)) image.dataDisk = { file, sizeGiB: data.sizeGiB };
    }
    for (const f of [image.kernel, image.initrd, image.rootfs]) {
      await fsp.access(f).catch(() => {
        throw new Error(`the VM image in ${dir} is incomplete: ${path.basename(f)} is missing; rebuild it with sudo bash vm/build.sh`);
      });
    }
    return image;
  }
  throw new Error(`no Berth VM image found (looked in ${tried.join(', ')}); build one with: sudo bash vm/build.sh`);
}
