/**
 * Start engine, Restart engine, and the engine's log, for the active engine. The app does what
 * it can do itself — start the Berth VM, drive a systemd unit, or run berthd again with the
 * command line it last ran with (from its launch record, when this process may) — and otherwise
 * says in plain words what the person has to run. Remote engines are started where they run.
 */
import { execFile, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { DaemonLogInfo, EngineControlResult } from '../../types/desktop-api.js';
import type { HostContext } from './context.js';
import { daemonFlags, isRecordedProcess, localSocketOf, readLaunchRecord, shellLine, systemdUnit, tailFile, type LaunchRecord } from './launch.js';
import { vmStart } from './vm.js';

const run = promisify(execFile);

/** How long a start may take before the app stops waiting for the engine to answer. */
const START_WAIT_MS = 30_000;
/** How long berthd gets to stop cleanly on a restart. */
const STOP_WAIT_MS = 30_000;

const isRoot = (): boolean => process.getuid?.() === 0;

/** The command a person would type to start the engine the recorded way (or the usual way). */
function manualCommand(record: LaunchRecord | undefined, socket: string): string {
  const flags = record ? daemonFlags(record.command) : socket === '/run/berth/docker.sock' ? [] : ['-H', `unix://${socket}`];
  return shellLine(['sudo', 'berthd', ...flags]);
}

/** Until the engine answers (true), or the process started for it has exited or the wait is over (false). */
async function waitUntilUp(ctx: HostContext, exited: () => boolean): Promise<boolean> {
  const deadline = Date.now() + START_WAIT_MS;
  while (Date.now() < deadline) {
    if (exited()) return false;
    if ((await ctx.probe()).state === 'running') return !exited();
    await sleep(250);
  }
  return false;
}

/** Runs berthd again with its recorded command line, detached so it outlives the app. */
async function relaunch(ctx: HostContext, record: LaunchRecord): Promise<EngineControlResult> {
  const [cmd, ...args] = record.command as [string, ...string[]];
  let exited = false;
  let exitText = '';
  const child = spawn(cmd, args, { cwd: record.cwd, env: record.env, detached: true, stdio: 'ignore' });
  child.once('error', (err) => {
    exited = true;
    exitText = err.message;
  });
  child.once('exit', (code, signal) => {
    exited = true;
    exitText = signal ? `it was stopped by ${signal}` : `it exited with code ${code}`;
  });
  child.unref();
  if (await waitUntilUp(ctx, () => exited)) return { done: true, how: `Started berthd (pid ${child.pid ?? '?'}) the way it last ran` };
  const log = record.logFile ? await tailFile(record.logFile, 5).catch(() => '') : '';
  const last = log.split('\n').filter(Boolean).pop() ?? '';
  return {
    done: false,
    instructions: `The engine did not start${exitText ? ` (${exitText})` : ''}.${last ? ` Its log ends with: ${last}` : ''} See Troubleshoot for the whole log.`,
  };
}

async function systemctl(verb: 'start' | 'restart', unit: string): Promise<EngineControlResult> {
  try {
    await run('systemctl', [verb, unit], { timeout: START_WAIT_MS });
    return { done: true, how: `${verb === 'start' ? 'Started' : 'Restarted'} ${unit} (systemd)` };
  } catch {
    const command = `sudo systemctl ${verb} ${unit}`;
    return { done: false, instructions: `Berth Desktop may not ${verb} the engine's service itself. In a terminal, run: ${command}`, command };
  }
}

function elsewhere(host: string): EngineControlResult {
  return { done: false, instructions: `This engine runs on another machine (${host}). Start it there; Berth Desktop reconnects by itself once it answers.` };
}

export async function startEngine(ctx: HostContext): Promise<EngineControlResult> {
  const engine = ctx.activeEngine();
  if (engine.kind === 'vm') {
    await vmStart(ctx);
    return { done: true, how: 'Starting the Berth VM' };
  }
  const socket = localSocketOf(engine);
  if (!socket) return elsewhere(engine.host);
  if ((await ctx.probe()).state === 'running') return { done: true, how: 'The engine is already running' };
  const unit = await systemdUnit();
  if (unit) return systemctl('start', unit);
  const found = await readLaunchRecord(socket);
  if (found?.trusted && isRoot()) return relaunch(ctx, found.record);
  const command = manualCommand(found?.record, socket);
  return {
    done: false,
    instructions: `The engine is not running, and Berth Desktop cannot start it from here: it needs administrator rights. In a terminal, run: ${command}`,
    command,
  };
}

export async function restartEngine(ctx: HostContext): Promise<EngineControlResult> {
  const engine = ctx.activeEngine();
  if (engine.kind === 'vm') {
    return { done: false, instructions: 'Restart the Berth VM in Settings → Virtual machine (Stop, then Start), or run: berth vm stop && berth vm start', command: 'berth vm stop && berth vm start' };
  }
  const socket = localSocketOf(engine);
  if (!socket) return elsewhere(engine.host);
  const unit = await systemdUnit();
  if (unit) return systemctl('restart', unit);
  const found = await readLaunchRecord(socket);
  if (!found?.trusted || !isRoot()) {
    const command = manualCommand(found?.record, socket);
    return {
      done: false,
      instructions: `Berth Desktop cannot restart the engine from here: it needs administrator rights. Stop berthd (Ctrl-C where it runs), then in a terminal run: ${command}`,
      command,
    };
  }
  const { record } = found;
  if (await isRecordedProcess(record)) {
    process.kill(record.pid, 'SIGTERM');
    const deadline = Date.now() + STOP_WAIT_MS;
    while ((await isRecordedProcess(record)) && Date.now() < deadline) await sleep(200);
    if (await isRecordedProcess(record)) return { done: false, instructions: `berthd (pid ${record.pid}) did not stop within ${STOP_WAIT_MS / 1000} s. Check Troubleshoot's log, then stop it yourself.` };
  }
  return relaunch(ctx, record);
}

/** What Start and Restart would do here (for the Troubleshoot screen), or null when the person has to. */
export async function controlAbilities(ctx: HostContext): Promise<{ start: string | null; restart: string | null }> {
  const engine = ctx.activeEngine();
  if (engine.kind === 'vm') return { start: 'starts the Berth VM', restart: null };
  const socket = localSocketOf(engine);
  if (!socket) return { start: null, restart: null };
  if (await systemdUnit()) return { start: 'systemctl start berthd', restart: 'systemctl restart berthd' };
  const found = await readLaunchRecord(socket);
  const can = found?.trusted === true && isRoot();
  return { start: can ? 'runs berthd the way it last ran' : null, restart: can ? 'stops berthd and runs it again the same way' : null };
}

/** The engine's log: BERTH_DAEMON_LOG, else the file berthd names in its launch record. */
export async function daemonLog(ctx: HostContext): Promise<DaemonLogInfo> {
  const read = async (file: string): Promise<DaemonLogInfo> => {
    try {
      return { text: await tailFile(file), path: file };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const note =
        code === 'EACCES' || code === 'EPERM'
          ? `The engine's log (${file}) cannot be read by this user. Add yourself to group docker (sudo usermod -aG docker $USER, then log in again), or read it with: sudo tail ${file}`
          : `The engine's log file ${file} does not exist (yet).`;
      return { text: null, path: file, note };
    }
  };
  const fromEnv = ctx.env['BERTH_DAEMON_LOG'];
  if (fromEnv) return read(fromEnv);
  const engine = ctx.activeEngine();
  if (engine.kind === 'vm') return { text: null, path: null, note: 'The engine runs inside the Berth VM; its log is there: run berth vm logs in a terminal.' };
  const socket = localSocketOf(engine);
  if (!socket) return { text: null, path: null, note: `This engine runs on another machine (${engine.host}); its log is on that machine.` };
  const found = await readLaunchRecord(socket);
  if (found?.record.logFile) return read(found.record.logFile);
  if (found) return { text: null, path: null, note: 'The engine was started with --log-file "" and logs only to where it was started (its terminal or service manager).' };
  return {
    text: null,
    path: null,
    note: `No log was found for the engine at ${socket}. berthd keeps one in its data folder (/var/lib/berth/berthd.log by default) and names it beside its socket once it has started.`,
  };
}
