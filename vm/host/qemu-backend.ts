/**
 * The qemu backend (vmm.ts): qemu with the host's hypervisor or TCG, one virtiofsd per shared
 * folder where virtio-fs is available, QMP on a private socket for the published-port forwards
 * (hostfwd_add/remove on the user-mode network) and the power button.
 */
import { spawn } from 'node:child_process';
import { constants as fsc, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { VmSettings } from '../../types/desktop-api.js';
import { guestArch } from './image.js';
import type { VmImage } from './image.js';
import { QmpClient } from './qmp.js';
import { acceleratorCandidates, qemuArgs, qemuBinary } from './qemu.js';
import type { Accel } from './qemu.js';
import { findVirtiofsd, openFileLimit, startVirtiofsd, type VirtiofsDaemon } from './virtiofsd.js';
import type { LaunchRequest, RunningVm, ShareType, VmmBackend } from './vmm.js';

export interface QemuBackendOptions {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  /** Where qemu writes its pid (a supervisor that died leaves qemu running: see stopStrayQemu). */
  pidFile: string;
  /** `unix:<path>`, or on Windows (no unix sockets in its qemu) `tcp:127.0.0.1:<port>`. */
  qmpAddress: () => Promise<string>;
}

export class QemuBackend implements VmmBackend {
  readonly name = 'qemu' as const;

  constructor(private readonly opts: QemuBackendOptions) {}

  async accelerators(image: VmImage, settings: VmSettings): Promise<Accel[]> {
    // A guest of another architecture than the host's can only be emulated.
    if (image.arch !== guestArch()) return ['tcg'];
    const hasKvm = this.opts.platform === 'linux' && (await fsp.access('/dev/kvm', fsc.R_OK | fsc.W_OK).then(() => true, () => false));
    return acceleratorCandidates(settings.accel, this.opts.platform, hasKvm);
  }

  /** virtio-fs where a virtiofsd can run (Linux, as root), 9p otherwise; BERTH_VM_SHARING picks one. */
  async shareType(): Promise<ShareType> {
    const forced = this.opts.env['BERTH_VM_SHARING'];
    if (forced === '9p') return '9p';
    const virtiofsd = await findVirtiofsd(this.opts.env, this.opts.platform);
    if (forced === 'virtiofs' && !virtiofsd) throw new Error('BERTH_VM_SHARING=virtiofs, but no virtiofsd can run here (it needs Linux, root and /usr/libexec/virtiofsd or /usr/lib/qemu/virtiofsd)');
    return virtiofsd ? 'virtiofs' : '9p';
  }

  async launch(req: LaunchRequest): Promise<RunningVm> {
    const daemons: VirtiofsDaemon[] = [];
    const sockets: Record<string, string> = {};
    const stopDaemons = async (): Promise<void> => {
      await Promise.all(daemons.map((d) => d.stop()));
    };
    try {
      const virtiofs = req.shares.filter((s) => s.type === 'virtiofs');
      if (virtiofs.length > 0) {
        const binary = await findVirtiofsd(this.opts.env, this.opts.platform);
        if (!binary) throw new Error('virtio-fs shares need virtiofsd');
        const limit = await openFileLimit();
        if (limit !== undefined && limit < 100_000) {
          req.log(`warning: virtiofsd can hold only ${limit} files open here (hard RLIMIT_NOFILE): a shared tree with more files and directories than that fails in the guest with "Too many open files"; raise the limit or use BERTH_VM_SHARING=9p`);
        }
        for (const share of virtiofs) {
          const socket = path.join(req.runDir, `virtiofs-${share.tag}.sock`);
          daemons.push(await startVirtiofsd(binary, socket, share.path, req.log));
          sockets[share.tag] = socket;
        }
      }
      const qmp = await this.opts.qmpAddress();
      const args = qemuArgs({
        image: req.image,
        settings: req.settings,
        accel: req.accel,
        platform: this.opts.platform,
        dataDisk: req.dataDisk,
        sshPort: req.sshPort,
        publicKey: '',
        consoleLog: req.consoleLog,
        qmp,
        shares: req.shares,
        virtiofsSockets: sockets,
        cmdline: req.cmdline,
      });
      const binary = this.opts.env['BERTH_QEMU'] || qemuBinary(req.image.arch, this.opts.platform);
      req.log(`starting ${binary} with ${req.accel}${virtiofs.length ? `, ${virtiofs.length} virtio-fs share(s)` : ''}`);
      const qemu = spawn(binary, [...args, '-pidfile', this.opts.pidFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      return new QemuVm(qemu, qmp, stopDaemons, req.log);
    } catch (err) {
      await stopDaemons();
      throw err;
    }
  }
}

class QemuVm implements RunningVm {
  readonly exited: Promise<number | null>;
  private stderr = '';
  private qmp: Promise<QmpClient> | undefined;

  constructor(
    private readonly qemu: ReturnType<typeof spawn>,
    private readonly qmpAddress: string,
    private readonly stopDaemons: () => Promise<void>,
    log: (line: string) => void,
  ) {
    qemu.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString('utf8')).slice(-4000);
      log(`qemu: ${d.toString('utf8').trimEnd()}`);
    });
    this.exited = new Promise((resolve) => {
      qemu.once('exit', (code) => resolve(code));
      qemu.once('error', (err) => {
        this.stderr += err.message;
        resolve(-1);
      });
    });
    // virtiofsd ends with its qemu; a killed qemu may leave it waiting.
    void this.exited.then(() => this.stopDaemons());
  }

  get pid(): number | undefined {
    return this.qemu.pid;
  }

  stderrTail(): string {
    return this.stderr;
  }

  private monitor(): Promise<QmpClient> {
    this.qmp ??= QmpClient.connect(this.qmpAddress);
    this.qmp.catch(() => (this.qmp = undefined));
    return this.qmp;
  }

  /** The human monitor answers in words: nothing when a rule was added, "... removed" when one was removed. */
  private async hostfwd(cmd: string, ok: RegExp): Promise<void> {
    const out = await (await this.monitor()).hmp(cmd);
    if (!ok.test(out)) throw new Error(/Could not set up/.test(out) ? 'the host port is in use by another program' : out);
  }

  forwardPort(proto: 'tcp' | 'udp', port: number): Promise<void> {
    return this.hostfwd(`hostfwd_add net0 ${proto}:127.0.0.1:${port}-:${port}`, /^$/);
  }

  unforwardPort(proto: 'tcp' | 'udp', port: number): Promise<void> {
    return this.hostfwd(`hostfwd_remove net0 ${proto}:127.0.0.1:${port}`, /removed/);
  }

  async powerButton(): Promise<void> {
    await (await this.monitor()).execute('system_powerdown');
  }

  async kill(graceMs = 0): Promise<void> {
    const alive = (): boolean => this.qemu.exitCode === null && this.qemu.signalCode === null;
    if (alive() && graceMs > 0) {
      // quit lets qemu close the qcow2 cleanly; SIGKILL only if it does not.
      await this.monitor().then((m) => m.execute('quit'), () => undefined).catch(() => undefined);
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, graceMs))]);
    }
    const q = this.qmp;
    this.qmp = undefined;
    void q?.then((c) => c.close(), () => undefined);
    if (alive()) {
      this.qemu.kill('SIGKILL');
      await this.exited;
    }
    await this.stopDaemons();
  }
}
