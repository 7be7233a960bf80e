/**
 * Container lifecycle and query verbs that need no stdio session: stop,
 * restart, kill, rm, wait, rename, update, pause, unpause, top, container prune, and
 * inspect for containers and images (`--type`).
 */
import { EngineError } from '../client/index.js';
import type { Command, Context } from './command.js';
import { parseFilters, readLine } from './command.js';
import { describeError, humanSize, tabulate } from './format.js';
import { inspectEach } from './inspect.js';
import { CONTAINER_FLAGS, parseRestartPolicy, resourceFields } from './create-flags.js';

/**
 * Apply `fn` to each named container, printing the name on success and the
 * error otherwise, like docker; exit status 1 if any failed.
 */
async function eachContainer(ctx: Context, names: readonly string[], fn: (name: string) => Promise<string | void>): Promise<number> {
  let rc = 0;
  for (const name of names) {
    try {
      const out = await fn(name);
      ctx.out(`${out ?? name}\n`);
    } catch (err) {
      if (!(err instanceof EngineError) || err.code === 'UNREACHABLE') throw err;
      ctx.err(`${describeError(err)}\n`);
      rc = 1;
    }
  }
  return rc;
}

function intFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new EngineError(`invalid argument "${value}" for "${flag}" flag: strconv.ParseInt: parsing "${value}": invalid syntax`, 0, 'INVALID');
  return n;
}

const stopFlags = [
  { name: 'signal', short: 's', type: 'string' as const, description: 'Signal to send to the container' },
  { name: 'time', short: 't', type: 'string' as const, valueName: 'int', description: 'Seconds to wait before killing the container' },
];

/** stop and restart: the same flags, one call per container. */
function stopLike(name: 'stop' | 'restart', description: string): Command {
  return {
    name,
    usage: '[OPTIONS] CONTAINER [CONTAINER...]',
    description,
    minArgs: 1,
    flags: stopFlags,
    run(ctx, a) {
      const timeout = intFlag(a.string('time'), '-t, --time');
      const signal = a.string('signal');
      const opts = { ...(timeout !== undefined ? { timeout } : {}), ...(signal ? { signal } : {}) };
      return eachContainer(ctx, a.args, (n) => ctx.client.containers[name](n, opts));
    },
  };
}

export const stopCommand = stopLike('stop', 'Stop one or more running containers');
export const restartCommand = stopLike('restart', 'Restart one or more containers');

export const killCommand: Command = {
  name: 'kill',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Kill one or more running containers',
  minArgs: 1,
  flags: [{ name: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' }],
  run(ctx, a) {
    return eachContainer(ctx, a.args, (n) => ctx.client.containers.kill(n, a.string('signal')));
  },
};

export const rmCommand: Command = {
  name: 'rm',
  aliases: ['remove'],
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Remove one or more containers',
  minArgs: 1,
  flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Force the removal of a running container (uses SIGKILL)' },
    { name: 'volumes', short: 'v', type: 'bool', description: 'Remove anonymous volumes associated with the container' },
  ],
  run(ctx, a) {
    return eachContainer(ctx, a.args, (n) => ctx.client.containers.remove(n, { force: a.bool('force'), volumes: a.bool('volumes') }));
  },
};

export const waitCommand: Command = {
  name: 'wait',
  usage: 'CONTAINER [CONTAINER...]',
  description: 'Block until one or more containers stop, then print their exit codes',
  minArgs: 1,
  flags: [],
  run(ctx, a) {
    return eachContainer(ctx, a.args, async (n) => {
      const r = await ctx.client.containers.wait(n, 'not-running');
      if (r.Error?.Message) throw new EngineError(r.Error.Message, 0, 'SERVER');
      return String(r.StatusCode);
    });
  },
};

/** The `run` flags `update` takes too. */
const UPDATE_FLAGS = new Set(['blkio-weight', 'cpu-period', 'cpu-quota', 'cpu-shares', 'cpus', 'cpuset-cpus', 'cpuset-mems', 'memory', 'memory-reservation', 'memory-swap', 'pids-limit']);

export const updateCommand: Command = {
  name: 'update',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Update configuration of one or more containers',
  minArgs: 1,
  flags: [
    ...CONTAINER_FLAGS.filter((f) => UPDATE_FLAGS.has(f.name)),
    { name: 'restart', type: 'string', description: 'Restart policy to apply when a container exits' },
  ],
  run(ctx, a) {
    const body: Record<string, unknown> = { ...resourceFields(a) };
    const restart = a.string('restart');
    if (restart !== undefined) body['RestartPolicy'] = parseRestartPolicy(restart);
    if (Object.keys(body).length === 0) throw new EngineError('you must provide one or more flags when using this command', 0, 'INVALID');
    return eachContainer(ctx, a.args, async (n) => {
      const r = await ctx.client.containers.update(n, body);
      for (const w of r.Warnings ?? []) ctx.err(`WARNING: ${w}\n`);
    });
  },
};

export const renameCommand: Command = {
  name: 'rename',
  usage: 'CONTAINER NEW_NAME',
  description: 'Rename a container',
  minArgs: 2,
  maxArgs: 2,
  flags: [],
  async run(ctx, a) {
    const [from, to] = a.args as [string, string];
    if (to.trim() === '') throw new EngineError('Error: Neither old nor new names may be empty', 0, 'INVALID');
    await ctx.client.containers.rename(from, to);
    return 0;
  },
};

export const pauseCommand: Command = {
  name: 'pause',
  usage: 'CONTAINER [CONTAINER...]',
  description: 'Pause all processes within one or more containers',
  minArgs: 1,
  flags: [],
  run(ctx, a) {
    return eachContainer(ctx, a.args, (n) => ctx.client.containers.pause(n));
  },
};

export const unpauseCommand: Command = {
  name: 'unpause',
  usage: 'CONTAINER [CONTAINER...]',
  description: 'Unpause all processes within one or more containers',
  minArgs: 1,
  flags: [],
  run(ctx, a) {
    return eachContainer(ctx, a.args, (n) => ctx.client.containers.unpause(n));
  },
};

export const topCommand: Command = {
  name: 'top',
  stopAtFirstArg: true,
  usage: 'CONTAINER [ps OPTIONS]',
  description: 'Display the running processes of a container',
  minArgs: 1,
  flags: [],
  async run(ctx, a) {
    const [name, ...psArgs] = a.args as [string, ...string[]];
    const top = await ctx.client.containers.top(name, psArgs.length > 0 ? psArgs.join(' ') : undefined);
    const lines = [top.Titles.join('\t'), ...(top.Processes ?? []).map((p) => p.join('\t'))];
    ctx.out(`${tabulate(lines, { minWidth: 20, padding: 3 })}\n`);
    return 0;
  },
};

export const containerPruneCommand: Command = {
  name: 'prune',
  usage: '[OPTIONS]',
  description: 'Remove all stopped containers',
  maxArgs: 0,
  flags: [
    { name: 'filter', type: 'list', valueName: 'filter', description: 'Provide filter values (e.g. "until=<timestamp>")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ],
  async run(ctx, a) {
    const filters = parseFilters(a.list('filter'));
    if (!a.bool('force')) {
      ctx.out('WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ');
      const answer = await readLine(ctx.io.stdin, ctx.io.stdout);
      if (answer === undefined) ctx.out('\n');
      if (!/^y(es)?$/i.test((answer ?? '').trim())) return 0;
    }
    const report = await ctx.client.containers.prune({ filters });
    const deleted = report.ContainersDeleted ?? [];
    if (deleted.length > 0) ctx.out(`Deleted Containers:\n${deleted.map((id) => `${id}\n`).join('')}\n`);
    ctx.out(`Total reclaimed space: ${humanSize(report.SpaceReclaimed ?? 0)}\n`);
    return 0;
  },
};

// ---------------------------------------------------------------------------
// inspect

type InspectType = 'container' | 'image';

async function inspectOne(ctx: Context, name: string, types: readonly InspectType[], size: boolean): Promise<unknown> {
  let last: EngineError | undefined;
  for (const type of types) {
    try {
      return type === 'container' ? await ctx.client.containers.inspect(name, { size }) : await ctx.client.inspectImage(name);
    } catch (err) {
      if (!(err instanceof EngineError) || err.code !== 'NOT_FOUND') throw err;
      last = err;
    }
  }
  if (types.length === 1 && last) throw last;
  throw new EngineError(`No such object: ${name}`, 0, 'NOT_FOUND');
}

/** `inspect` (any object, or --type), `container inspect` (containers only). */
function inspectVerb(fixed?: InspectType): Command {
  return {
    name: 'inspect',
    usage: fixed ? '[OPTIONS] CONTAINER [CONTAINER...]' : '[OPTIONS] NAME|ID [NAME|ID...]',
    description: fixed ? 'Display detailed information on one or more containers' : 'Return low-level information on Berth objects',
    minArgs: 1,
    flags: [
      { name: 'format', short: 'f', type: 'string', description: "Format output using a custom template ('json' or a Go template)" },
      { name: 'size', short: 's', type: 'bool', description: 'Display total file sizes if the type is container' },
      ...(fixed ? [] : [{ name: 'type', type: 'string' as const, description: 'Only inspect objects of the given type (container, image)' }]),
    ],
    async run(ctx, a) {
      const type = a.string('type');
      if (type !== undefined && type !== 'container' && type !== 'image') throw new EngineError(`"${type}" is not a valid value for --type`, 0, 'INVALID');
      const types: InspectType[] = fixed ? [fixed] : type ? [type] : ['container', 'image'];
      return inspectEach(ctx, a, (name) => inspectOne(ctx, name, types, a.bool('size')), (f) => (f.statusCode === 404 || f.statusCode === 0 ? `Error: ${f.message}` : describeError(f)));
    },
  };
}

export const inspectAnyCommand = inspectVerb();
export const containerInspectCommand = inspectVerb('container');
