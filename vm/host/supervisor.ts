/**
 * The VM supervisor: one long-lived host process per VM (started detached by `berth vm start` or
 * the app) that owns everything the VM needs on the host side:
 *
 *   the VM          run by a backend (vmm.ts; qemu-backend.ts) with the best accelerator that
 *                   works, and the shared folders (virtio-fs or 9p), watched until it exits
 *   data disk       copied from the image's blank ext4 disk on first start, grown to the setting
 *   boot progress   read off the serial console, including the guest's SSH host key, pinned on
 *                   first boot and checked after that; SSH connects as soon as the guest's sshd
 *                   is up, while berthd is still starting
 *   docker.sock     `~/.berth/run/docker.sock`, forwarded over SSH (streamlocal) to the guest's
 *                   engine socket, reconnecting after blips
 *   port agent      published container ports forwarded to the host's 127.0.0.1 (the backend's)
 *   health          the engine pinged through the socket every few seconds
 *   shutdown        berth-poweroff over SSH, then the power button, then quit/kill
 *
 * It reports its status to whoever asks on the control socket (control.ts).
 */
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { EngineClient } from '../../client/index.js';
import type { BerthHome } from '../../client/home.js';
import { ensurePrivateDir, hostFor } from '../../client/home.js';
import { KnownHosts, SocketForwarder, SshSession, blobFromPublicLine, ensureKeyPair, expectKey, fingerprint } from '../../client/ssh/index.js';
import type { KeyPair } from '../../client/ssh/index.js';
import type { VmStage, VmStatus } from '../../types/desktop-api.js';
import { ConsoleFollower, stageProgress } from './console.js';
import type { ConsoleMarker } from './console.js';
import { findImage, wantedGuestArch } from './image.js';
import type { VmImage } from './image.js';
import { PortAgent } from './ports.js';
import { QemuBackend } from './qemu-backend.js';
import { kernelCmdline, sharesFor } from './qemu.js';
import type { Accel } from './qemu.js';
import { loadVmSettings } from './settings.js';
import type { RunningVm, Share, VmmBackend } from './vmm.js';

const run = promisify(execFile);

/** The name the VM's host key is pinned under in ~/.berth/ssh/known_hosts. */
export const VM_HOST_NAME = 'berth-vm';
const GUEST_ENGINE_SOCKET = '/var/run/docker.sock';

export function vmPaths(home: BerthHome) {
  return {
    dataDisk: path.join(home.vmDir, 'data.qcow2'),
    consoleLog: path.join(home.vmDir, 'console.log'),
    supervisorLog: path.join(home.vmDir, 'supervisor.log'),
    qmpSocket: path.join(home.vmDir, 'qmp.sock'),
    qemuPid: path.join(home.vmDir, 'qemu.pid'),
    supervisorPid: path.join(home.vmDir, 'supervisor.pid'),
    accelFile: path.join(home.vmDir, 'accel.json'),
    lastError: path.join(home.vmDir, 'last-error'),
  };
}

/** How long the first console line may take with each accelerator before it counts as hung. */
const FIRST_SIGN_MS: Record<Accel, number> = { kvm: 15_000, hvf: 15_000, whpx: 20_000, tcg: 120_000 };
/** How long a whole boot may take. */
const BOOT_MS: Record<Accel, number> = { kvm: 90_000, hvf: 90_000, whpx: 120_000, tcg: 600_000 };
const HEALTH_INTERVAL_MS = 5_000;

export interface SupervisorOptions {
  home: BerthHome;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  log?: (line: string) => void;
}

class BootFailure extends Error {
  constructor(
    message: string,
    /** Another accelerator may do better (this one failed to start or hung). */
    readonly tryNext: boolean,
  ) {
    super(message);
  }
}

export class VmSupervisor extends EventEmitter {
  private readonly env: NodeJS.ProcessEnv;
  private readonly platform: NodeJS.Platform;
  private readonly paths: ReturnType<typeof vmPaths>;
  private readonly log: (line: string) => void;
  private readonly backend: VmmBackend;
  private vm: RunningVm | undefined;
  private forwarder: SocketForwarder | undefined;
  private sshUp: Promise<void> | undefined;
  private client: EngineClient | undefined;
  private agent: PortAgent | undefined;
  private health: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  state: VmStatus;

  constructor(private readonly opts: SupervisorOptions) {
    super();
    this.env = opts.env ?? process.env;
    this.platform = opts.platform ?? process.platform;
    this.paths = vmPaths(opts.home);
    this.log = opts.log ?? (() => undefined);
    const paths = this.paths;
    const platform = this.platform;
    this.backend = new QemuBackend({
      env: this.env,
      platform,
      pidFile: paths.qemuPid,
      // qemu for Windows has no unix sockets: QMP on a loopback port there.
      qmpAddress: async () => (platform === 'win32' ? `tcp:127.0.0.1:${await freePort()}` : `unix:${paths.qmpSocket}`),
    });
    // A supervisor exists to boot the VM: it is starting from its first moment, so a client that
    // connects before start() runs never mistakes it for a stopped one.
    this.state = { state: 'starting', socket: opts.home.vmSocket, dockerHost: hostFor(opts.home.vmSocket), ports: [], settings: { cpus: 0, memoryMiB: 0, diskGiB: 0, shares: [], accel: 'auto' }, required: this.platform !== 'linux' };
  }

  private update(patch: Partial<VmStatus>): void {
    this.state = { ...this.state, ...patch };
    this.emit('status', this.state);
  }

  private stage(stage: VmStage): void {
    this.log(`stage ${stage}`);
    this.update({ stage, progress: stageProgress(stage) });
  }

  /** Boots the VM and brings up the socket, the port agent and the health check. */
  async start(): Promise<void> {
    const started = Date.now();
    const home = this.opts.home;
    await ensurePrivateDir(home.vmDir);
    await fsp.rm(this.paths.lastError, { force: true });
    const settings = await loadVmSettings(home, this.env);
    this.update({ state: 'starting', settings, startedAt: new Date(started).toISOString(), error: undefined, ports: [] });
    try {
      const image = await findImage(wantedGuestArch(this.env), this.env);
      this.update({ image: { version: image.version, arch: image.arch, ...(image.compressedBytes ? { compressedBytes: image.compressedBytes } : {}) } });
      const keys = await ensureKeyPair(home.sshDir);
      if (await stopStrayQemu(home)) this.log('stopped a qemu left over from an earlier supervisor');
      await this.prepareDataDisk(settings.diskGiB, image);
      const hostKey = await this.boot(image, keys);
      await (this.sshUp ?? this.connectSsh(keys, hostKey, this.state.sshPort as number));
      this.stage('ssh');
      this.client = new EngineClient({ host: hostFor(home.vmSocket) });
      await this.client.ping(AbortSignal.timeout(30_000));
      this.stage('engine');
      this.update({ state: 'running', bootMs: Date.now() - started, healthy: true });
      this.log(`engine ready ${Date.now() - started} ms after start`);
      this.startPortAgent();
      this.startHealthCheck();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.log(`start failed: ${message}`);
      await fsp.writeFile(this.paths.lastError, `${message}\n`).catch(() => undefined);
      await this.teardown();
      this.update({ state: 'stopped', error: message, stage: undefined, progress: undefined });
      throw err;
    }
  }

  /**
   * Creates the data disk on first start, or grows it to the configured size. A new disk is a copy
   * of the image's blank ext4 disk (so the guest's first boot runs no mkfs) when the setting is at
   * least its size; a smaller one starts blank and the guest makes its filesystem.
   */
  private async prepareDataDisk(diskGiB: number, image: VmImage): Promise<void> {
    const disk = this.paths.dataDisk;
    const exists = await fsp.access(disk).then(() => true, () => false);
    if (!exists) {
      // A new disk means a new guest host key: forget the old pin.
      await new KnownHosts(this.opts.home.knownHosts).unpin(VM_HOST_NAME, 22);
      const template = image.dataDisk && diskGiB >= image.dataDisk.sizeGiB ? image.dataDisk : undefined;
      if (template) {
        await fsp.copyFile(template.file, `${disk}.tmp`);
        await fsp.chmod(`${disk}.tmp`, 0o600);
        await fsp.rename(`${disk}.tmp`, disk);
        if (diskGiB > template.sizeGiB) await run('qemu-img', ['resize', '-q', disk, `${diskGiB}G`]);
      } else {
        await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, `${diskGiB}G`]);
      }
      this.log(`created data disk ${disk} (${diskGiB} GiB${template ? ', from the image\'s blank ext4 disk' : ', blank'})`);
      return;
    }
    const { stdout } = await run('qemu-img', ['info', '--output=json', disk]);
    const size = (JSON.parse(stdout) as { 'virtual-size'?: number })['virtual-size'] ?? 0;
    if (size < diskGiB * 2 ** 30) {
      await run('qemu-img', ['resize', '-q', disk, `${diskGiB}G`]);
      this.log(`grew data disk to ${diskGiB} GiB`);
    }
  }

  /** Boots the VM with each candidate accelerator until one works; answers the guest's host key. */
  private async boot(image: VmImage, keys: KeyPair): Promise<Buffer> {
    const settings = this.state.settings;
    const remembered = JSON.parse(await fsp.readFile(this.paths.accelFile, 'utf8').catch(() => '{}')) as { hangs?: string[] };
    let candidates = await this.backend.accelerators(image, settings);
    const skipped = candidates.filter((a) => a !== 'tcg' && remembered.hangs?.includes(a));
    if (skipped.length && settings.accel === 'auto') {
      candidates = candidates.filter((a) => !skipped.includes(a));
      this.update({ accelNote: `${skipped.join(', ')} hung here before; using ${candidates[0]}` });
    }
    let lastError: Error | undefined;
    for (const accel of candidates) {
      try {
        return await this.bootWith(image, keys, accel);
      } catch (err) {
        lastError = err as Error;
        await this.killVm();
        await this.forwarder?.close();
        this.forwarder = undefined;
        this.sshUp = undefined;
        if (!(err instanceof BootFailure) || !err.tryNext || accel === candidates[candidates.length - 1]) throw err;
        this.log(`${accel}: ${err.message}; falling back`);
        if (/no sign of life/.test(err.message)) {
          const hangs = [...new Set([...(remembered.hangs ?? []), accel])];
          await fsp.writeFile(this.paths.accelFile, JSON.stringify({ hangs }));
        }
        this.update({ accelNote: `${accel} failed (${err.message}); using the next accelerator` });
      }
    }
    throw lastError ?? new Error('no accelerator to try');
  }

  private async bootWith(image: VmImage, keys: KeyPair, accel: Accel): Promise<Buffer> {
    const sshPort = await freePort();
    await fsp.writeFile(this.paths.consoleLog, '');
    await fsp.rm(this.paths.qmpSocket, { force: true });
    const shareType = await this.backend.shareType();
    const shares: Share[] = sharesFor(this.state.settings, shareType);
    const cmdline = kernelCmdline({ image, settings: this.state.settings, accel, platform: this.platform, dataDisk: '', sshPort, publicKey: keys.publicKey, consoleLog: '', qmp: '', shares });
    this.update({ accel, sshPort, shareType: shares.length ? shareType : undefined });
    this.stage('qemu');
    this.vm = await this.backend.launch({ image, settings: this.state.settings, accel, shares, dataDisk: this.paths.dataDisk, sshPort, cmdline, consoleLog: this.paths.consoleLog, runDir: this.opts.home.vmDir, log: this.log });
    const vm = this.vm;
    const follower = new ConsoleFollower(this.paths.consoleLog);
    follower.start();
    try {
      const consoleTail: string[] = [];
      return await new Promise<Buffer>((resolve, reject) => {
        let hostKey: Buffer | undefined;
        let firstSign = false;
        const done = (err?: Error): void => {
          clearTimeout(watchdog);
          clearTimeout(overall);
          follower.removeAllListeners();
          if (err) reject(err);
          else if (hostKey) resolve(hostKey);
          else reject(new BootFailure('the guest reported ready without its host key', false));
        };
        const watchdog = setTimeout(() => {
          if (!firstSign) done(new BootFailure(`no sign of life from the guest within ${FIRST_SIGN_MS[accel] / 1000} s`, true));
        }, FIRST_SIGN_MS[accel]);
        const overall = setTimeout(() => done(new BootFailure(`the guest did not finish booting within ${BOOT_MS[accel] / 1000} s (see berth vm logs)`, false)), BOOT_MS[accel]);
        follower.on('line', (line: string) => {
          firstSign = true;
          consoleTail.push(line);
          if (consoleTail.length > 20) consoleTail.shift();
        });
        follower.on('marker', (m: ConsoleMarker) => {
          if ('error' in m) {
            done(new BootFailure(`the guest failed to boot: ${m.error}`, false));
            return;
          }
          this.stage(m.stage);
          if (m.stage === 'hostkey') {
            this.checkHostKey(m.detail).then(
              (blob) => {
                hostKey = blob;
              },
              (err: Error) => done(new BootFailure(err.message, false)),
            );
          }
          // The guest's sshd is up while berthd is still starting: the SSH handshake (seconds
          // under TCG) overlaps berthd's start instead of following it.
          if (m.stage === 'sshd') {
            const pinned = (): Promise<void> =>
              hostKey ? Promise.resolve() : new Promise<void>((r) => setTimeout(r, 20)).then(pinned);
            this.sshUp = pinned().then(() => this.connectSsh(keys, hostKey as Buffer, sshPort));
            this.sshUp.catch(() => undefined);
          }
          if (m.stage === 'ready') {
            // The pin check above is asynchronous; let it land first.
            setTimeout(() => done(), 20);
          }
        });
        void vm.exited.then(async (code) => {
          // The guest's last words come first: an error marker it printed just before powering off.
          await follower.poll().catch(() => undefined);
          const why = vm.stderrTail().trim().split('\n').pop()?.trim() || consoleTail.filter((l) => l.trim()).slice(-3).join(' | ');
          done(new BootFailure(`qemu exited (${code ?? 'signal'}) during boot${why ? `: ${why}` : ''}`, !firstSign));
        });
      });
    } finally {
      follower.stop();
      await follower.poll().catch(() => undefined);
    }
  }

  /**
   * The engine socket, carried over SSH to the guest's engine: listening at once, connected as soon
   * as sshd answers (it may take a moment after the guest started it).
   */
  private async connectSsh(keys: KeyPair, hostKey: Buffer, sshPort: number): Promise<void> {
    const home = this.opts.home;
    this.forwarder = new SocketForwarder({
      listenPath: home.vmSocket,
      remotePath: GUEST_ENGINE_SOCKET,
      keepConnected: true,
      connect: () => SshSession.connect({ host: '127.0.0.1', port: sshPort, username: 'root', keys: [keys.privateKey], verifyHostKey: expectKey(hostKey) }),
    });
    this.forwarder.on('state', (s: string) => this.log(`ssh ${s}`));
    await this.forwarder.listen();
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        await this.forwarder.ensureSession();
        return;
      } catch (err) {
        if (Date.now() > deadline || this.state.state !== 'starting') throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** Pins the guest's host key on the first boot of a data disk; after that it must match. */
  private async checkHostKey(line: string): Promise<Buffer> {
    const blob = blobFromPublicLine(line);
    const known = new KnownHosts(this.opts.home.knownHosts);
    const verdict = await known.verify(VM_HOST_NAME, 22, blob);
    if (verdict === 'mismatch') {
      throw new Error(`the VM presented a different SSH host key (${fingerprint(blob)}) than the one pinned at its first boot; if you replaced its data disk on purpose, run berth vm rm and start again`);
    }
    if (verdict === 'unknown') {
      await known.pin(VM_HOST_NAME, 22, blob);
      this.log(`pinned the VM host key ${fingerprint(blob)}`);
    }
    return blob;
  }

  private startPortAgent(): void {
    const client = this.client as EngineClient;
    const vm = this.vm as RunningVm;
    this.agent = new PortAgent(
      () => client,
      { add: (proto, port) => vm.forwardPort(proto, port), remove: (proto, port) => vm.unforwardPort(proto, port) },
      (ports) => this.update({ ports }),
      this.log,
    );
    void this.agent.run();
  }

  private startHealthCheck(): void {
    const check = async (): Promise<void> => {
      if (this.state.state !== 'running' || !this.client) return;
      const t = performance.now();
      try {
        await this.client.ping(AbortSignal.timeout(5_000));
        const pingMs = Math.round((performance.now() - t) * 10) / 10;
        if (!this.state.healthy) this.log('engine healthy again');
        this.update({ healthy: true, pingMs });
      } catch (err) {
        if (this.state.healthy) this.log(`health check failed: ${err instanceof Error ? err.message : String(err)}`);
        this.update({ healthy: false });
      }
    };
    this.health = setInterval(() => void check(), HEALTH_INTERVAL_MS);
    this.health.unref();
  }

  /** Resolves when the VM exits (for whatever reason). */
  exited(): Promise<number | null> {
    return this.vm?.exited ?? Promise.resolve(null);
  }

  /** A clean shutdown: the guest stops its engine, syncs and powers off; harsher steps only if it does not. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.state.state === 'stopped') return;
      this.update({ state: 'stopping' });
      this.agent?.stop();
      const exited = this.vm?.exited;
      const gone = (ms: number): Promise<boolean> =>
        exited ? Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]) : Promise.resolve(true);
      let down = false;
      const session = await this.forwarder?.ensureSession().catch(() => undefined);
      this.forwarder?.quiesce();
      if (session) {
        this.log('asking the guest to power off');
        session.exec('/usr/sbin/berth-poweroff', 90_000).catch(() => undefined);
        down = await gone(90_000);
      }
      if (!down && this.vm) {
        this.log('guest still up: ACPI power-down');
        await this.vm.powerButton().catch(() => undefined);
        down = await gone(15_000);
      }
      if (!down && this.vm) {
        this.log('guest still up: quitting qemu');
        await this.vm.kill(5_000);
      }
      await this.teardown();
      this.update({ state: 'stopped', stage: undefined, progress: undefined, healthy: undefined, ports: [] });
    })();
    return this.stopping;
  }

  /** Releases everything on the host side; kills qemu if it is still there. */
  private async teardown(): Promise<void> {
    if (this.health) clearInterval(this.health);
    this.agent?.stop();
    this.client?.close();
    await this.forwarder?.close();
    await this.killVm();
    await fsp.rm(this.paths.qmpSocket, { force: true });
    await fsp.rm(this.paths.qemuPid, { force: true });
  }

  private async killVm(): Promise<void> {
    await this.vm?.kill();
  }
}

/**
 * A qemu left running by a supervisor that died (crash, kill -9) still holds the data disk: it is
 * stopped before a new one starts, and by `berth vm stop` when no supervisor answers. Only a process
 * whose command line names this VM's data disk is touched, whatever the pid file says. Answers
 * whether there was one.
 */
export async function stopStrayQemu(home: BerthHome, dryRun = false): Promise<boolean> {
  // Windows has no ps(1); there the check is not made (qemu's own lock on the disk then reports it).
  if (process.platform === 'win32') return false;
  const paths = vmPaths(home);
  const pid = Number((await fsp.readFile(paths.qemuPid, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const alive = async (): Promise<boolean> => {
    const { stdout } = await run('ps', ['-o', 'stat=,command=', '-p', String(pid)]).catch(() => ({ stdout: '' }));
    return !stdout.trimStart().startsWith('Z') && stdout.includes('berth-vm') && stdout.includes(paths.dataDisk);
  };
  if (!(await alive())) return false;
  if (dryRun) return true;
  process.kill(pid, 'SIGKILL');
  // A killed qemu frees its guest's memory before it is gone: seconds on a busy host.
  const gone = async (): Promise<boolean> => {
    const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    if (stat !== undefined) return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
    return process.platform === 'linux' || !(await alive());
  };
  for (let i = 0; i < 300 && !(await gone()); i++) await new Promise((r) => setTimeout(r, 100));
  await fsp.rm(paths.qemuPid, { force: true });
  return true;
}

/** A free TCP port on 127.0.0.1 (for qemu's SSH forward). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
