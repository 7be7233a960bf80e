/**
 * The VM monitor behind the supervisor, as a small role interface (no implementation here).
 *
 * The supervisor owns what is the same whatever runs the guest: the image, the data disk, the
 * boot progress read off the console, the SSH host key pin, the engine socket forwarded over SSH,
 * the port agent and the health check. A backend owns the monitor process and its helpers:
 * starting them, the published-port forwards (the monitor's user-mode network), the power button
 * and killing them.
 *
 * Implementations: qemu (qemu-backend.ts: KVM, HVF, WHPX or TCG; virtio-fs through virtiofsd on
 * Linux, 9p elsewhere). vfkit, driving Apple's Virtualization.framework on macOS, would be the
 * second; vm/README.md says how it would fit.
 */
import type { VmSettings } from '../../types/desktop-api.js';
import type { VmImage } from './image.js';
import type { Accel } from './qemu.js';

/** How a host folder reaches the guest. */
export type ShareType = 'virtiofs' | '9p';

export interface Share {
  /** The device tag the guest mounts (share0, share1...). */
  tag: string;
  /** The host folder; mounted at the same path in the guest. */
  path: string;
  type: ShareType;
}

export interface LaunchRequest {
  image: VmImage;
  settings: VmSettings;
  accel: Accel;
  shares: Share[];
  dataDisk: string;
  /** Host loopback port forwarded to the guest's sshd. */
  sshPort: number;
  /** The kernel command line (kernelCmdline in qemu.ts: the boot contract, the same for every backend). */
  cmdline: string;
  /** Where the monitor writes the guest's serial console. */
  consoleLog: string;
  /** A private directory for control sockets and helper state. */
  runDir: string;
  log: (line: string) => void;
}

/** A guest being run by a backend. */
export interface RunningVm {
  readonly pid: number | undefined;
  /** Resolves with the monitor's exit code when it ends (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** What the monitor last printed on stderr: the reason when it fails to start. */
  stderrTail(): string;
  /** Forwards 127.0.0.1:<port> on the host to the same port in the guest. */
  forwardPort(proto: 'tcp' | 'udp', port: number): Promise<void>;
  unforwardPort(proto: 'tcp' | 'udp', port: number): Promise<void>;
  /** Presses the power button (ACPI, or the GPIO key on arm64): the guest shuts down cleanly. */
  powerButton(): Promise<void>;
  /** Ends the monitor, and its helpers (virtiofsd): asked to quit for up to graceMs, then killed. */
  kill(graceMs?: number): Promise<void>;
}

export interface VmmBackend {
  readonly name: 'qemu' | 'vfkit';
  /** The accelerators to try on this host for this image, best first. */
  accelerators(image: VmImage, settings: VmSettings): Promise<Accel[]>;
  /** How this backend shares folders on this host. */
  shareType(): Promise<ShareType>;
  launch(req: LaunchRequest): Promise<RunningVm>;
}
