/**
 * What the bridge can learn about a local engine from outside it: the launch record berthd
 * writes beside its socket (`<socket>.berthd.json`: its command line, its log file), whether a
 * systemd unit runs it, and the last lines of its log. Only a record that root (or this user)
 * owns and nobody else can change is believed for anything that runs a command.
 */
import { execFile } from 'node:child_process';
import { promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseHost } from '../../client/index.js';
import type { EngineEndpoint } from '../../types/desktop-api.js';

const run = promisify(execFile);

export interface LaunchRecord {
  pid: number;
  command: string[];
  cwd: string;
  env: Record<string, string>;
  dataRoot: string;
  hosts: string[];
  logFile: string | null;
}

/** The unix socket of a local engine (local or a unix:// socket engine), else undefined. */
export function localSocketOf(engine: EngineEndpoint): string | undefined {
  if (engine.kind !== 'local' && engine.kind !== 'socket') return undefined;
  try {
    const ep = parseHost(engine.host);
    return ep.protocol === 'unix' ? ep.socketPath : undefined;
  } catch {
    return undefined;
  }
}

const myUid = (): number => process.getuid?.() ?? -1;

/** Owned by root or by us, and writable by nobody else (nor replaceable through its folder). */
async function trustworthy(file: string, st: Stats): Promise<boolean> {
  const ownerOk = (s: Stats): boolean => s.uid === 0 || s.uid === myUid();
  if (!ownerOk(st) || (st.mode & 0o022) !== 0) return false;
  const dir = await fsp.stat(path.dirname(file)).catch(() => undefined);
  if (!dir) return false;
  // In a sticky folder (/tmp) nobody can replace another's file; elsewhere the folder must be ours alone.
  const sticky = (dir.mode & 0o1000) !== 0;
  return sticky || (ownerOk(dir) && (dir.mode & 0o022) === 0);
}

/** The launch record beside `socket`, and whether it may be acted on. */
export async function readLaunchRecord(socket: string): Promise<{ record: LaunchRecord; trusted: boolean } | undefined> {
  const file = `${socket}.berthd.json`;
  try {
    const [text, st] = await Promise.all([fsp.readFile(file, 'utf8'), fsp.stat(file)]);
    const r = JSON.parse(text) as Partial<LaunchRecord>;
    if (!Array.isArray(r.command) || !r.command.every((a) => typeof a === 'string') || r.command.length === 0) return undefined;
    const record: LaunchRecord = {
      pid: typeof r.pid === 'number' ? r.pid : 0,
      command: r.command,
      cwd: typeof r.cwd === 'string' ? r.cwd : '/',
      env: r.env && typeof r.env === 'object' ? Object.fromEntries(Object.entries(r.env).filter(([, v]) => typeof v === 'string')) : {},
      dataRoot: typeof r.dataRoot === 'string' ? r.dataRoot : '',
      hosts: Array.isArray(r.hosts) ? r.hosts.filter((h): h is string => typeof h === 'string') : [],
      logFile: typeof r.logFile === 'string' ? r.logFile : null,
    };
    return { record, trusted: await trustworthy(file, st) };
  } catch {
    return undefined;
  }
}

/** berthd's flags from a recorded command line (everything after the daemon's script). */
export function daemonFlags(command: string[]): string[] {
  const i = command.findIndex((a) => /daemon[/\\]cli\.js$/.test(a));
  return i < 0 ? [] : command.slice(i + 1);
}

/** A shell-safe rendering of a command for a person to copy. */
export function shellLine(args: string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The systemd unit that runs berthd here, if any (berthd.service). */
export async function systemdUnit(): Promise<string | undefined> {
  try {
    await run('systemctl', ['cat', 'berthd.service'], { timeout: 5000 });
    return 'berthd.service';
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is alive and is the process the record describes (not a reused pid): the same
 * executable and the same arguments (argv[0] is however the program was named, so not compared).
 */
export async function isRecordedProcess(record: LaunchRecord): Promise<boolean> {
  if (record.pid <= 0) return false;
  const [cmdline, exe] = await Promise.all([
    fsp.readFile(`/proc/${record.pid}/cmdline`, 'utf8').catch(() => ''),
    fsp.readlink(`/proc/${record.pid}/exe`).catch(() => ''),
  ]);
  const args = cmdline.split('\0');
  if (args[args.length - 1] === '') args.pop();
  const recorded = await fsp.realpath(record.command[0] ?? '').catch(() => record.command[0]);
  // Node records its script's path normalized (".../bin/../dist/..." is ".../dist/..." in argv).
  const same = (list: string[]): string => list.map((a) => (a.startsWith('/') ? path.normalize(a) : a)).join('\0');
  return exe !== '' && exe === recorded && same(args.slice(1)) === same(record.command.slice(1));
}

/** The last `lines` lines of a file, reading only its end (logs grow large). */
export async function tailFile(file: string, lines = 200, bytes = 128 * 1024): Promise<string> {
  const fh = await fsp.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    let text = buf.toString('utf8');
    if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    const all = text.split('\n');
    if (all[all.length - 1] === '') all.pop();
    return all.slice(-lines).join('\n');
  } finally {
    await fh.close();
  }
}
