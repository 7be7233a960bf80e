/**
 * The qemu command line for the Berth VM, as pure functions of the settings, the image and the
 * host, so every choice can be checked without starting anything.
 *
 * - Accelerator: the hypervisor of the host OS (KVM on Linux, HVF on macOS, WHPX on Windows), TCG
 *   (software emulation) as the fallback. "auto" tries them in that order; the supervisor falls back
 *   when one fails or hangs (nested KVM hangs on some cloud machines).
 * - Direct kernel boot (no firmware menu, no bootloader), virtio everywhere, no default devices.
 * - Disks: the read-only root image and the qcow2 data disk, told apart by serial number.
 * - Network: user-mode (slirp); SSH forwarded to a host loopback port. Published container ports
 *   are added later over QMP (hostfwd_add), only on 127.0.0.1.
 * - Shares: one device per folder, mounted in the guest at the same path: virtio-fs (a
 *   vhost-user-fs device talking to a virtiofsd per folder; guest RAM must then be a shared
 *   memfd) on Linux hosts that have virtiofsd, virtio-9p elsewhere (qemu serves it itself).
 * - Control: QMP on a unix socket (TCP on Windows); the console goes to a file the supervisor
 *   reads for boot progress and the guest's host key.
 */
import type { VmAccelerator, VmSettings } from '../../types/desktop-api.js';
import type { GuestArch, VmImage } from './image.js';
import type { Share, ShareType } from './vmm.js';

export type Accel = Exclude<VmAccelerator, 'auto'>;

/** The accelerators to try, best first, for this host. */
export function acceleratorCandidates(choice: VmAccelerator, platform: NodeJS.Platform, hasKvm: boolean): Accel[] {
  if (choice !== 'auto') return [choice];
  const native: Accel | undefined = platform === 'linux' ? (hasKvm ? 'kvm' : undefined) : platform === 'darwin' ? 'hvf' : platform === 'win32' ? 'whpx' : undefined;
  return native ? [native, 'tcg'] : ['tcg'];
}

export function qemuBinary(arch: GuestArch, platform: NodeJS.Platform): string {
  const name = arch === 'aarch64' ? 'qemu-system-aarch64' : 'qemu-system-x86_64';
  return platform === 'win32' ? `${name}.exe` : name;
}

export function sharesFor(settings: VmSettings, type: ShareType = '9p'): Share[] {
  return settings.shares.map((p, i) => ({ tag: `share${i}`, path: p, type }));
}

export interface LaunchSpec {
  image: VmImage;
  settings: VmSettings;
  accel: Accel;
  platform: NodeJS.Platform;
  dataDisk: string;
  sshPort: number;
  /** The authorized_keys line the guest must accept. */
  publicKey: string;
  consoleLog: string;
  /** `unix:<path>` or `tcp:127.0.0.1:<port>` */
  qmp: string;
  /** The folders to share; default: the settings' folders over 9p. */
  shares?: Share[];
  /** For virtio-fs shares: the vhost-user socket of each one's virtiofsd, by tag. */
  virtiofsSockets?: Record<string, string>;
  /** The kernel command line, when made already; else kernelCmdline(spec). */
  cmdline?: string;
}

function specShares(spec: LaunchSpec): Share[] {
  return spec.shares ?? sharesFor(spec.settings);
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** The guest's kernel command line: console, and Berth's own parameters (base64 where free text). */
export function kernelCmdline(spec: LaunchSpec): string {
  const shares = specShares(spec).map((s) => `${s.tag} ${s.path} ${s.type}`).join('\n');
  return [
    `console=${spec.image.console}`,
    'panic=-1',
    'quiet',
    `berth.key=${b64(spec.publicKey)}`,
    `berth.shares=${b64(shares)}`,
    `berth.insecure=${(spec.settings.insecureRegistries ?? []).join(',')}`,
  ].join(' ');
}

export function qemuArgs(spec: LaunchSpec): string[] {
  const { image, settings, accel } = spec;
  const x86 = image.arch === 'x86_64';
  const machine = x86 ? 'q35' : 'virt';
  // With a hypervisor the guest sees the host CPU; under TCG, everything qemu can emulate, except
  // that arm64's architected pointer authentication (QARMA) is very slow to emulate: the
  // implementation-defined algorithm does the same job much faster.
  const cpu = accel !== 'tcg' ? 'host' : x86 ? 'max' : 'max,pauth-impdef=on';
  const args = [
    '-name', 'berth-vm',
    '-accel', accel,
    '-machine', machine,
    '-cpu', cpu,
    '-smp', String(settings.cpus),
    '-m', String(settings.memoryMiB),
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-kernel', image.kernel,
    '-initrd', image.initrd,
    '-append', spec.cmdline ?? kernelCmdline(spec),
    '-drive', `if=none,id=root,file=${qemuPath(image.rootfs)},format=raw,readonly=on`,
    '-device', 'virtio-blk-pci,drive=root,serial=berth-root',
    '-drive', `if=none,id=data,file=${qemuPath(spec.dataDisk)},format=qcow2,discard=unmap,detect-zeroes=unmap`,
    '-device', 'virtio-blk-pci,drive=data,serial=berth-data',
    '-netdev', `user,id=net0,hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22`,
    '-device', 'virtio-net-pci,netdev=net0',
    '-device', 'virtio-rng-pci',
    '-chardev', `file,id=con,path=${qemuPath(spec.consoleLog)}`,
    '-serial', 'chardev:con',
    '-qmp', `${spec.qmp},server=on,wait=off`,
    '-no-reboot',
  ];
  const shares = specShares(spec);
  if (shares.some((s) => s.type === 'virtiofs')) {
    // vhost-user devices read guest memory from another process: it must be shareable.
    args.push('-object', `memory-backend-memfd,id=mem,size=${settings.memoryMiB}M,share=on`);
    args[args.indexOf('-machine') + 1] = `${machine},memory-backend=mem`;
  }
  for (const share of shares) {
    if (share.type === 'virtiofs') {
      const sock = spec.virtiofsSockets?.[share.tag];
      if (!sock) throw new Error(`no virtiofsd socket for ${share.tag}`);
      args.push('-chardev', `socket,id=${share.tag},path=${qemuPath(sock)}`);
      args.push('-device', `vhost-user-fs-pci,chardev=${share.tag},tag=${share.tag},queue-size=1024`);
      continue;
    }
    // 9p is not built into qemu for Windows hosts; there the shares are left out.
    if (spec.platform === 'win32') continue;
    // mapped-xattr on macOS (files keep the host user's ownership); passthrough elsewhere.
    const model = spec.platform === 'darwin' ? 'mapped-xattr' : 'none';
    args.push('-fsdev', `local,id=${share.tag},path=${qemuPath(share.path)},security_model=${model}`);
    args.push('-device', `virtio-9p-pci,fsdev=${share.tag},mount_tag=${share.tag}`);
  }
  return args;
}

/** qemu's option syntax uses commas as separators: a comma in a path is written twice. */
export function qemuPath(p: string): string {
  return p.replace(/,/g, ',,');
}
