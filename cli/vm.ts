/**
 * `berth vm start | stop | status | ssh | logs | rm`: the Berth VM, the Linux engine for macOS and
 * Windows (and, optionally, an isolated engine on Linux). Start shows the boot's progress and
 * finishes when the engine answers through the forwarded socket; stop is a clean shutdown.
 */
import { promises as fsp } from 'node:fs';
import { berthHome } from '../client/home.js';
import type { SshSession } from '../client/ssh/index.js';
import type { VmSettings, VmStatus } from '../types/desktop-api.js';
import { ORPHANED_VM, configureVm, openGuestSession, removeVm, startVm, stopVm, vmStatus } from '../vm/host/control.js';
import { vmPaths } from '../vm/host/supervisor.js';
import { UsageError } from './args.js';
import type { Command, Context } from './command.js';
import { humanDuration, humanSize } from './format.js';

function home(ctx: Context) {
  return berthHome(ctx.io.env);
}

/** One line per stage, or a redrawn bar on a terminal. */
function progressPrinter(ctx: Context): { update(s: VmStatus): void; done(): void } {
  const tty = ctx.io.stdout.isTTY === true;
  let lastStage: string | undefined;
  let lastNote: string | undefined;
  let drawn = false;
  return {
    update(s) {
      if (s.accelNote && s.accelNote !== lastNote) {
        lastNote = s.accelNote;
        lastStage = undefined;
        ctx.out(`${drawn ? '\n' : ''}Note: ${s.accelNote}\n`);
        drawn = false;
      }
      if (s.state !== 'starting' || !s.stage || s.stage === lastStage) return;
      lastStage = s.stage;
      const pct = Math.round((s.progress ?? 0) * 100);
      if (tty) {
        const width = 30;
        const fill = Math.round((width * pct) / 100);
        ctx.out(`\r\x1b[2KStarting the Berth VM [${'='.repeat(Math.max(0, fill - 1))}${fill ? '>' : ''}${' '.repeat(width - fill)}] ${String(pct).padStart(3)}% ${s.stage}`);
        drawn = true;
      } else {
        ctx.out(`Starting the Berth VM: ${s.stage} (${pct}%)${s.accel && s.stage === 'qemu' ? ` with ${s.accel}` : ''}\n`);
      }
    },
    done() {
      if (drawn) ctx.out('\n');
    },
  };
}

function intFlag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UsageError(`invalid argument "${value}" for "--${name}" flag: not a whole number`);
  return n;
}

const startCommand: Command = {
  name: 'start',
  usage: '[OPTIONS]',
  description: 'Start the VM (settings given here are saved for later starts)',
  noEngine: true,
  maxArgs: 0,
  flags: [
    { name: 'cpus', type: 'string', description: 'Number of virtual CPUs' },
    { name: 'memory', type: 'string', description: 'Memory in MiB' },
    { name: 'disk', type: 'string', description: 'Data disk size in GiB (it can only grow)' },
    { name: 'share', type: 'list', description: 'Host folder to share at the same path (repeatable; replaces the list; default: your home)' },
    { name: 'accel', type: 'string', description: 'Accelerator: auto, kvm, hvf, whpx or tcg' },
    { name: 'insecure-registry', type: 'list', description: 'Registry the VM engine may use over plain HTTP (repeatable; replaces the list)' },
  ],
  async run(ctx, args) {
    const patch: Partial<VmSettings> = {};
    const cpus = intFlag(args.string('cpus'), 'cpus');
    const memory = intFlag(args.string('memory'), 'memory');
    const disk = intFlag(args.string('disk'), 'disk');
    if (cpus !== undefined) patch.cpus = cpus;
    if (memory !== undefined) patch.memoryMiB = memory;
    if (disk !== undefined) patch.diskGiB = disk;
    if (args.list('share').length) patch.shares = args.list('share');
    if (args.list('insecure-registry').length) patch.insecureRegistries = args.list('insecure-registry');
    const accel = args.string('accel');
    if (accel !== undefined) patch.accel = accel as VmSettings['accel'];
    if (Object.keys(patch).length) {
      try {
        await configureVm(home(ctx), patch, ctx.io.env);
      } catch (err) {
        throw new UsageError(err instanceof Error ? err.message : String(err));
      }
    }
    const progress = progressPrinter(ctx);
    const final = await startVm(home(ctx), (s) => progress.update(s), ctx.io.env);
    progress.done();
    if (final.state !== 'running') {
      ctx.err(`Error: the Berth VM did not start: ${final.error ?? final.state}\nSee: ${ctx.prog} vm logs\n`);
      return 1;
    }
    ctx.out(`The Berth VM is running (${final.accel}${final.bootMs ? `, ready in ${(final.bootMs / 1000).toFixed(1)} s` : ''}).\n`);
    ctx.out(`Use it with: export DOCKER_HOST=${final.dockerHost}   (or: ${ctx.prog} context use "Berth VM")\n`);
    return 0;
  },
};

const stopCommand: Command = {
  name: 'stop',
  usage: '',
  description: 'Stop the VM cleanly',
  noEngine: true,
  maxArgs: 0,
  flags: [],
  async run(ctx) {
    const before = await vmStatus(home(ctx), ctx.io.env);
    if (before.state === 'absent' || (before.state === 'stopped' && before.error !== ORPHANED_VM)) {
      ctx.out('The Berth VM is not running.\n');
      return 0;
    }
    await stopVm(home(ctx), undefined, ctx.io.env);
    ctx.out('The Berth VM is stopped.\n');
    return 0;
  },
};

function describeStatus(s: VmStatus): string {
  const lines = [`State:        ${s.state}${s.state === 'starting' && s.stage ? ` (${s.stage}, ${Math.round((s.progress ?? 0) * 100)}%)` : ''}`];
  if (s.error) lines.push(`Last error:   ${s.error}`);
  if (s.accel) lines.push(`Accelerator:  ${s.accel}${s.accelNote ? ` (${s.accelNote})` : ''}`);
  lines.push(`Resources:    ${s.settings.cpus} CPUs, ${s.settings.memoryMiB} MiB memory, ${s.settings.diskGiB} GiB disk`);
  lines.push(`Shared:       ${s.settings.shares.join(', ') || '(none)'}`);
  if (s.image) lines.push(`Image:        ${s.image.arch} ${s.image.version}${s.image.compressedBytes ? ` (${humanSize(s.image.compressedBytes)})` : ''}`);
  lines.push(`Socket:       ${s.dockerHost}`);
  if (s.sshPort) lines.push(`SSH:          127.0.0.1:${s.sshPort}`);
  if (s.startedAt && s.state === 'running') lines.push(`Up:           ${humanDuration(Date.now() - Date.parse(s.startedAt))}${s.bootMs ? ` (booted in ${(s.bootMs / 1000).toFixed(1)} s)` : ''}`);
  if (s.healthy !== undefined) lines.push(`Health:       ${s.healthy ? `healthy${s.pingMs !== undefined ? ` (ping ${s.pingMs} ms)` : ''}` : 'unhealthy: the engine does not answer'}`);
  if (s.ports.length) lines.push(`Ports:        ${s.ports.map((p) => `127.0.0.1:${p.port}/${p.proto}${p.error ? ` (${p.error})` : ''}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

const statusCommand: Command = {
  name: 'status',
  usage: '[OPTIONS]',
  description: 'Show the VM state, resources, health and forwarded ports',
  noEngine: true,
  maxArgs: 0,
  flags: [{ name: 'format', type: 'string', description: "'json' for the raw status" }],
  async run(ctx, args) {
    const s = await vmStatus(home(ctx), ctx.io.env);
    if (args.string('format') === 'json') ctx.out(`${JSON.stringify(s)}\n`);
    else ctx.out(describeStatus(s));
    return s.state === 'running' || args.string('format') === 'json' ? 0 : 3;
  },
};

/** An SSH session to the running guest. */
async function guestSession(ctx: Context): Promise<SshSession> {
  return openGuestSession(home(ctx), ctx.prog, ctx.io.env);
}

const sshCommand: Command = {
  name: 'ssh',
  usage: '[COMMAND [ARG...]]',
  description: 'Open a shell in the VM, or run a command there',
  noEngine: true,
  stopAtFirstArg: true,
  flags: [],
  async run(ctx, args) {
    const session = await guestSession(ctx);
    try {
      const stdin = ctx.io.stdin;
      const tty = stdin.isTTY === true && ctx.io.stdout.isTTY === true;
      const command = args.args.length ? args.args.map(shellQuote).join(' ') : undefined;
      const out = ctx.io.stdout as NodeJS.WriteStream;
      const channel = await session.channel(command, tty ? { term: ctx.io.env['TERM'] || 'xterm-256color', rows: out.rows || 24, cols: out.columns || 80 } : undefined);
      if (tty) stdin.setRawMode?.(true);
      const onResize = (): void => void channel.setWindow(out.rows || 24, out.columns || 80, 0, 0);
      if (tty) out.on('resize', onResize);
      stdin.pipe(channel);
      channel.pipe(ctx.io.stdout, { end: false });
      channel.stderr.pipe(ctx.io.stderr, { end: false });
      const code = await new Promise<number>((resolve) => channel.once('close', (c: number | null) => resolve(c ?? 255)));
      stdin.unpipe(channel);
      stdin.pause();
      if (tty) {
        stdin.setRawMode?.(false);
        out.off('resize', onResize);
      }
      return code;
    } finally {
      session.close();
    }
  },
};

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

const logsCommand: Command = {
  name: 'logs',
  usage: '[OPTIONS]',
  description: "Show the VM's console and supervisor logs (or the guest engine's)",
  noEngine: true,
  maxArgs: 0,
  flags: [
    { name: 'engine', type: 'bool', description: "The engine's log inside the VM (needs the VM running)" },
    { name: 'tail', short: 'n', type: 'string', description: 'Number of lines to show from the end of each log (default: all)' },
  ],
  async run(ctx, args) {
    const tail = intFlag(args.string('tail'), 'tail');
    const cut = (text: string): string => {
      if (tail === undefined) return text;
      const lines = text.replace(/\n$/, '').split('\n');
      return `${lines.slice(-tail).join('\n')}\n`;
    };
    if (args.bool('engine')) {
      const session = await guestSession(ctx);
      try {
        const r = await session.exec(`cat /var/log/berthd.log`);
        ctx.out(cut(r.stdout));
      } finally {
        session.close();
      }
      return 0;
    }
    const p = vmPaths(home(ctx));
    for (const [title, file] of [['supervisor', p.supervisorLog], ['console', p.consoleLog]] as const) {
      const text = await fsp.readFile(file, 'utf8').catch(() => '');
      ctx.out(`==> ${title} (${file}) <==\n${text ? cut(text) : '(empty)\n'}`);
    }
    return 0;
  },
};

const rmCommand: Command = {
  name: 'rm',
  usage: '[OPTIONS]',
  description: 'Delete the VM: its data disk (images, containers, volumes) and logs',
  noEngine: true,
  maxArgs: 0,
  flags: [{ name: 'force', short: 'f', type: 'bool', description: 'Stop the VM first if it is running' }],
  async run(ctx, args) {
    const h = home(ctx);
    const s = await vmStatus(h, ctx.io.env);
    if (s.state === 'absent') {
      ctx.out('There is no Berth VM to remove.\n');
      return 0;
    }
    if (s.state !== 'stopped') {
      if (!args.bool('force')) throw new UsageError(`the Berth VM is ${s.state}: stop it first (${ctx.prog} vm stop), or use --force`);
      await stopVm(h, undefined, ctx.io.env);
    }
    await removeVm(h);
    ctx.out('The Berth VM was removed.\n');
    return 0;
  },
};

export const vmCommands: Command[] = [logsCommand, rmCommand, sshCommand, startCommand, statusCommand, stopCommand];
