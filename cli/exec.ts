/**
 * `exec`: run a command in a running container. Creates the exec, starts it
 * hijacked (or detached with -d), joins our stdio to it like `run` does
 * (raw mode, resize, detach keys with -it) and exits with the process's exit
 * code from exec inspect.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError } from '../client/index.js';
import type { ExecCreateBody } from '../types/engine-api.js';
import type { Command } from './command.js';
import { parseEnvFile } from './create-flags.js';
import { readFileSync } from 'node:fs';
import { UsageError } from './args.js';
import { DEFAULT_DETACH_KEYS, parseDetachKeys, runSession, terminalSize } from './session.js';

export const execCommand: Command = {
  name: 'exec',
  stopAtFirstArg: true,
  usage: '[OPTIONS] CONTAINER COMMAND [ARG...]',
  description: 'Execute a command in a running container',
  minArgs: 2,
  flags: [
    { name: 'detach', short: 'd', type: 'bool', description: 'Detached mode: run command in the background' },
    { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
    { name: 'env', short: 'e', type: 'list', valueName: 'list', description: 'Set environment variables' },
    { name: 'env-file', type: 'list', valueName: 'list', description: 'Read in a file of environment variables' },
    { name: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
    { name: 'privileged', type: 'bool', description: 'Give extended privileges to the command' },
    { name: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
    { name: 'user', short: 'u', type: 'string', description: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
    { name: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
  ],
  async run(ctx, a) {
    const [container, ...cmd] = a.args as [string, ...string[]];
    const detach = a.bool('detach');
    const tty = a.bool('tty');
    const interactive = a.bool('interactive');
    if (tty && interactive && !detach && !ctx.io.stdin.isTTY) throw new EngineError('the input device is not a TTY', 0, 'INVALID');
    const keys = parseDetachKeys(a.string('detach-keys') ?? DEFAULT_DETACH_KEYS);
    const env: string[] = [];
    for (const file of a.list('env-file')) {
      try {
        env.push(...parseEnvFile(readFileSync(file, 'utf8'), ctx.io.env));
      } catch (err) {
        if (err instanceof UsageError) throw err;
        throw new UsageError(`open ${file}: no such file or directory`);
      }
    }
    for (const e of a.list('env')) {
      if (e.includes('=')) env.push(e);
      else if (ctx.io.env[e] !== undefined) env.push(`${e}=${ctx.io.env[e]}`);
    }
    const size = tty ? terminalSize(ctx.io) : undefined;
    const body: ExecCreateBody = {
      AttachStdin: interactive && !detach,
      AttachStdout: !detach,
      AttachStderr: !detach,
      Tty: tty,
      Env: env,
      WorkingDir: a.string('workdir') ?? '',
      User: a.string('user') ?? '',
      Privileged: a.bool('privileged'),
      ...(a.has('detach-keys') ? { DetachKeys: a.string('detach-keys') as string } : {}),
      ConsoleSize: size ?? null,
      Cmd: cmd,
    };
    const execId = await ctx.client.containers.execCreate(container, body);
    if (detach) {
      await ctx.client.containers.execStartDetached(execId, { tty });
      return 0;
    }
    const conn = await ctx.client.containers.execStart(execId, { tty, ...(size ? { consoleSize: size } : {}) });
    const end = await runSession({
      conn,
      io: ctx.io,
      stdin: body.AttachStdin,
      tty,
      detachKeys: keys,
      ...(tty ? { resize: (h: number, w: number) => ctx.client.containers.execResize(execId, h, w) } : {}),
    });
    if (end === 'detached') return 0;
    // The output ends when the process does; its exit code lands in inspect a moment later.
    for (let i = 0; ; i++) {
      const info = await ctx.client.containers.execInspect(execId);
      if (!info.Running || i >= 50) return info.ExitCode ?? 0;
      await sleep(Math.min(10 * (i + 1), 100));
    }
  },
};
