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
 * - Shares: virtio-9p, one device per folder, mounted in the guest at the same path.
 * - Control: QMP on a unix socket (TCP on Windows); the console goes to a file the supervisor
 *   reads for boot progress and the guest's host key.
 */
import type { VmAccelerator, VmSettings } from '../../types/desktop-api.js';
import type { GuestArch, VmImage } from './image.js';

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

export interface Share {
  tag: string;
  path: string;
}

export function sharesFor(settings: VmSettings): Share[] {
  return settings.shares.map((p, i) => ({ tag: `share${i}`, path: p }));
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
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** The guest's kernel command line: console, and Berth's own parameters (base64 where free text). */
export function kernelCmdline(spec: LaunchSpec): string {
  const shares = sharesFor(spec.settings).map((s) => `${s.tag} ${s.path}`).join('\n');
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
    '-append', kernelCmdline(spec),
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
  // 9p is not built into qemu for Windows hosts; there the shares are left out.
  if (spec.platform !== 'win32') {
    for (const share of sharesFor(settings)) {
      // mapped-xattr on macOS (files keep the host user's ownership); passthrough elsewhere.
      const model = spec.platform === 'darwin' ? 'mapped-xattr' : 'none';
      args.push('-fsdev', `local,id=${share.tag},path=${qemuPath(share.path)},security_model=${model}`);
      args.push('-device', `virtio-9p-pci,fsdev=${share.tag},mount_tag=${share.tag}`);
    }
  }
  return args;
}

/** qemu's option syntax uses commas as separators: a comma in a path is written twice. */
function qemuPath(p: string): string {
  return p.replace(/,/g, ',,');
}
