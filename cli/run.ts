/**
 * The verbs that join a container's stdio: run, create, start, attach.
 *
 * `run` is docker's sequence: create (on "No such image" pull with progress
 * on stderr and create again, per --pull), attach (hijacked, before start so
 * no output is missed), wait (registered before start: next-exit, or removed
 * with --rm), start, the stdio session, then exit with the container's code.
 * Exit codes like docker's: 125 when the engine refuses to create or start,
 * 126 when the command cannot be invoked, 127 when it is not found.
 */
import {
  EngineError,
  familiarString,
  followProgress,
  parseReference,
  withDefaultTag,
} from '../client/index.js';
import type { HijackedConnection } from '../client/index.js';
import { UsageError } from './args.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import type { Command, Context } from './command.js';
import { CONTAINER_FLAGS, buildCreateRequest } from './create-flags.js';
import type { CreateRequest } from './create-flags.js';
import { ProgressRenderer } from './progress.js';
import { DEFAULT_DETACH_KEYS, parseDetachKeys, runSession, terminalSize } from './session.js';
import { describeError } from './format.js';

const DETACH_KEYS_FLAG: FlagSpec = { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' };
const SIG_PROXY_FLAG: FlagSpec = { name: 'sig-proxy', type: 'bool', description: 'Proxy received signals to the process (default true)' };

/** Print an engine failure and give the exit status it deserves. */
function failWith(ctx: Context, err: unknown, status: number): number {
  if (!(err instanceof EngineError)) throw err;
  ctx.err(`${describeError(err)}\n`);
  return status;
}

/** docker's status for a failed start: 127 not found, 126 cannot invoke, 125 otherwise. */
export function startFailureStatus(message: string): number {
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(message)) return 127;
  if (/permission denied|is a directory/.test(message)) return 126;
  return 125;
}

async function pullForRun(ctx: Context, image: string, platform: string | undefined, quiet: boolean): Promise<void> {
  const ref = withDefaultTag(parseReference(image));
  const stderr = ctx.io.stderr as Context['io']['stdout'];
  const renderer = new ProgressRenderer({ tty: stderr.isTTY === true, ...(stderr.columns ? { columns: stderr.columns } : {}) });
  await followProgress(ctx.client.pullImage(familiarString(ref), platform ? { platform } : {}), (m) => {
    if (!quiet) ctx.err(renderer.push(m));
  });
}

/** Create the container, pulling the image first or on "No such image" as --pull says. Returns the ID. */
async function createContainer(ctx: Context, req: CreateRequest, quiet: boolean): Promise<string> {
  const opts = { ...(req.name !== undefined ? { name: req.name } : {}), ...(req.platform !== undefined ? { platform: req.platform } : {}) };
  if (req.pull === 'always') await pullForRun(ctx, req.body.Image, req.platform, quiet);
  let res;
  try {
    res = await ctx.client.containers.create(req.body, opts);
  } catch (err) {
    if (!(err instanceof EngineError) || err.code !== 'NOT_FOUND' || req.pull !== 'missing' || !/no such image/i.test(err.message)) throw err;
    ctx.err(`Unable to find image '${familiarString(withDefaultTag(parseReference(req.body.Image)))}' locally\n`);
    await pullForRun(ctx, req.body.Image, req.platform, quiet);
    res = await ctx.client.containers.create(req.body, opts);
  }
  for (const w of res.Warnings ?? []) ctx.err(`WARNING: ${w}\n`);
  return res.Id;
}

function detachKeys(a: ParsedArgs): Buffer {
  return parseDetachKeys(a.string('detach-keys') ?? DEFAULT_DETACH_KEYS);
}

/** Join our stdio to `conn` for container `id`; returns whether the user detached. */
async function attachSession(
  ctx: Context,
  id: string,
  conn: HijackedConnection,
  opts: { stdin: boolean; tty: boolean; keys: Buffer; sigProxy: boolean },
): Promise<boolean> {
  const end = await runSession({
    conn,
    io: ctx.io,
    stdin: opts.stdin,
    tty: opts.tty,
    detachKeys: opts.keys,
    ...(opts.tty ? { resize: (h: number, w: number) => ctx.client.containers.resize(id, h, w) } : {}),
    ...(opts.sigProxy && !opts.tty ? { proxySignal: (s: NodeJS.Signals) => ctx.client.containers.kill(id, s) } : {}),
  });
  return end === 'detached';
}

function checkTtyInput(ctx: Context, a: ParsedArgs): void {
  if (a.bool('tty') && a.bool('interactive') && !ctx.io.stdin.isTTY) {
    throw new EngineError('the input device is not a TTY', 0, 'INVALID');
  }
}

export const runCommand: Command = {
  name: 'run',
  stopAtFirstArg: true,
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create and run a new container from an image',
  minArgs: 1,
  flags: [
    ...CONTAINER_FLAGS,
    { name: 'detach', short: 'd', type: 'bool', description: 'Run container in background and print container ID' } as FlagSpec,
    DETACH_KEYS_FLAG,
    SIG_PROXY_FLAG,
  ].sort((x, y) => (x.name < y.name ? -1 : 1)),
  async run(ctx, a) {
    const detach = a.bool('detach');
    const size = terminalSize(ctx.io);
    const req = buildCreateRequest(a, { env: ctx.io.env, detach, ...(size ? { consoleSize: size } : {}) });
    const keys = detachKeys(a);
    if (!detach) checkTtyInput(ctx, a);
    let id: string;
    try {
      id = await createContainer(ctx, req, a.bool('quiet'));
    } catch (err) {
      return failWith(ctx, err, 125);
    }
    const body = req.body;
    if (detach) {
      try {
        await ctx.client.containers.start(id);
      } catch (err) {
        return failWith(ctx, err, err instanceof EngineError ? startFailureStatus(err.message) : 125);
      }
      ctx.out(`${id}\n`);
      return 0;
    }

    let conn: HijackedConnection | undefined;
    let wait;
    try {
      if (body.AttachStdin || body.AttachStdout || body.AttachStderr) {
        conn = await ctx.client.containers.attach(id, {
          stream: true,
          stdin: body.AttachStdin,
          stdout: body.AttachStdout,
          stderr: body.AttachStderr,
        });
      }
      wait = await ctx.client.containers.beginWait(id, body.HostConfig.AutoRemove ? 'removed' : 'next-exit');
    } catch (err) {
      conn?.socket.destroy();
      return failWith(ctx, err, 125);
    }
    try {
      await ctx.client.containers.start(id);
    } catch (err) {
      conn?.socket.destroy();
      wait.cancel();
      if (body.HostConfig.AutoRemove) await ctx.client.containers.remove(id, { force: true }).catch(() => undefined);
      return failWith(ctx, err, err instanceof EngineError ? startFailureStatus(err.message) : 125);
    }
    if (conn) {
      const sigProxy = a.has('sig-proxy') ? a.bool('sig-proxy') : true;
      const detached = await attachSession(ctx, id, conn, { stdin: body.AttachStdin, tty: body.Tty, keys, sigProxy });
      if (detached) {
        wait.cancel();
        return 0;
      }
    }
    const status = await wait.result;
    if (status.Error?.Message) ctx.err(`${status.Error.Message}\n`);
    return status.StatusCode;
  },
};

export const createCommand: Command = {
  name: 'create',
  stopAtFirstArg: true,
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create a new container',
  minArgs: 1,
  flags: CONTAINER_FLAGS,
  async run(ctx, a) {
    const size = terminalSize(ctx.io);
    const req = buildCreateRequest(a, { env: ctx.io.env, detach: false, ...(size ? { consoleSize: size } : {}) });
    const id = await createContainer(ctx, req, a.bool('quiet'));
    ctx.out(`${id}\n`);
    return 0;
  },
};

export const startCommand: Command = {
  name: 'start',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Start one or more stopped containers',
  minArgs: 1,
  flags: [
    { name: 'attach', short: 'a', type: 'bool', description: 'Attach STDOUT/STDERR and forward signals' },
    DETACH_KEYS_FLAG,
    { name: 'interactive', short: 'i', type: 'bool', description: "Attach container's STDIN" },
  ],
  async run(ctx, a) {
    const attach = a.bool('attach') || a.bool('interactive');
    if (!attach) {
      const failed: string[] = [];
      for (const name of a.args) {
        try {
          await ctx.client.containers.start(name);
          ctx.out(`${name}\n`);
        } catch (err) {
          failWith(ctx, err, 1);
          failed.push(name);
        }
      }
      if (failed.length > 0) throw new EngineError(`failed to start containers: ${failed.join(', ')}`, 0, 'INVALID');
      return 0;
    }
    if (a.args.length > 1) throw new UsageError('you cannot start and attach multiple containers at once');
    const name = a.args[0] as string;
    const keys = detachKeys(a);
    const info = await ctx.client.containers.inspect(name);
    const stdin = a.bool('interactive') && info.Config.OpenStdin;
    const conn = await ctx.client.containers.attach(info.Id, { stream: true, stdin, stdout: true, stderr: true });
    let wait;
    try {
      wait = await ctx.client.containers.beginWait(info.Id, 'next-exit');
    } catch (err) {
      conn.socket.destroy();
      throw err;
    }
    try {
      await ctx.client.containers.start(info.Id);
    } catch (err) {
      conn.socket.destroy();
      wait.cancel();
      throw err;
    }
    if (await attachSession(ctx, info.Id, conn, { stdin, tty: info.Config.Tty, keys, sigProxy: true })) {
      wait.cancel();
      return 0;
    }
    return (await wait.result).StatusCode;
  },
};

export const attachCommand: Command = {
  name: 'attach',
  usage: '[OPTIONS] CONTAINER',
  description: "Attach local standard input, output, and error streams to a running container",
  minArgs: 1,
  maxArgs: 1,
  flags: [
    DETACH_KEYS_FLAG,
    { name: 'no-stdin', type: 'bool', description: 'Do not attach STDIN' },
    SIG_PROXY_FLAG,
  ],
  async run(ctx, a) {
    const info = await ctx.client.containers.inspect(a.args[0] as string);
    if (!info.State.Running) throw new EngineError('You cannot attach to a stopped container, start it first', 0, 'CONFLICT');
    if (info.State.Paused) throw new EngineError('You cannot attach to a paused container, unpause it first', 0, 'CONFLICT');
    const tty = info.Config.Tty;
    const stdin = info.Config.OpenStdin && !a.bool('no-stdin');
    if (stdin && tty && !ctx.io.stdin.isTTY) throw new EngineError('the input device is not a TTY', 0, 'INVALID');
    const keys = detachKeys(a);
    const conn = await ctx.client.containers.attach(info.Id, { stream: true, stdin, stdout: true, stderr: true });
    const sigProxy = a.has('sig-proxy') ? a.bool('sig-proxy') : true;
    if (await attachSession(ctx, info.Id, conn, { stdin, tty, keys, sigProxy })) {
      // docker's words and status for a detach from `attach`.
      ctx.err('read escape sequence\n');
      return 1;
    }
    const status = await ctx.client.containers.wait(info.Id, 'not-running');
    return status.StatusCode;
  },
};
