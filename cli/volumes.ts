/**
 * Volume verbs (`berth volume create/ls/inspect/rm/prune`), worded and formatted like docker's.
 */
import { EngineError } from '../client/index.js';
import type { Volume } from '../types/engine-api.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { parseFilters, readLine } from './command.js';
import { describeError, humanSize, printRows } from './format.js';
import { inspectEach } from './inspect.js';

/** `k=v` items (labels, driver options) to a map; a bare key gets ''. */
function keyValues(items: readonly string[], flag: string, requireValue: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq === 0 || (requireValue && eq < 0)) throw new UsageError(`invalid argument "${item}" for "${flag}" flag: invalid key value pair format`);
    out[eq < 0 ? item : item.slice(0, eq)] = eq < 0 ? '' : item.slice(eq + 1);
  }
  return out;
}

/** The fields `volume ls` templates see (docker's volume formatter). */
export function volumeRows(volumes: readonly Volume[]): Record<string, string>[] {
  return volumes.map((v) => ({
    Name: v.Name,
    Driver: v.Driver,
    Scope: v.Scope,
    Mountpoint: v.Mountpoint,
    CreatedAt: v.CreatedAt ?? '',
    Labels: Object.entries(v.Labels ?? {}).map(([k, x]) => `${k}=${x}`).join(','),
  }));
}

const createCommand: Command = {
  name: 'create',
  usage: '[OPTIONS] [VOLUME]',
  description: 'Create a volume',
  maxArgs: 1,
  flags: [
    { name: 'driver', short: 'd', type: 'string', defaultValue: 'local', description: 'Specify volume driver name' },
    { name: 'label', type: 'list', valueName: 'list', description: 'Set metadata for a volume' },
    { name: 'name', type: 'string', description: 'Specify volume name', hidden: true },
    { name: 'opt', short: 'o', type: 'list', valueName: 'map', description: 'Set driver specific options' },
  ],
  async run(ctx, a) {
    const flagName = a.string('name');
    if (flagName !== undefined && a.args[0] !== undefined && flagName !== a.args[0]) {
      throw new UsageError(`conflicting options: either specify --name or provide positional arg, not both`);
    }
    const name = a.args[0] ?? flagName;
    const v = await ctx.client.volumes.create({
      ...(name !== undefined ? { Name: name } : {}),
      Driver: a.string('driver') ?? 'local',
      DriverOpts: keyValues(a.list('opt'), '-o, --opt', true),
      Labels: keyValues(a.list('label'), '--label', false),
    });
    ctx.out(`${v.Name}\n`);
  },
};

const listCommand: Command = {
  name: 'ls',
  aliases: ['list'],
  usage: '[OPTIONS]',
  description: 'List volumes',
  maxArgs: 0,
  flags: [
    { name: 'filter', short: 'f', type: 'list', valueName: 'filter', description: "Provide filter values (e.g. 'dangling=true')" },
    { name: 'format', type: 'string', description: "Format output using a custom template ('table', 'json' or a Go template)" },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display volume names' },
  ],
  async run(ctx, a) {
    const res = await ctx.client.volumes.list({ filters: parseFilters(a.list('filter')) });
    const rows = volumeRows([...(res.Volumes ?? [])].sort((x, y) => x.Name.localeCompare(y.Name)));
    if (a.bool('quiet')) {
      for (const r of rows) ctx.out(`${r.Name}\n`);
      return;
    }
    printRows(ctx, rows, a.string('format'), 'table {{.Driver}}\t{{.Name}}', { Driver: 'DRIVER', Name: 'VOLUME NAME', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', CreatedAt: 'CREATED', Labels: 'LABELS' });
  },
};

const inspectCommand: Command = {
  name: 'inspect',
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  description: 'Display detailed information on one or more volumes',
  minArgs: 1,
  flags: [{ name: 'format', short: 'f', type: 'string', description: "Format output using a custom template ('json' or a Go template)" }],
  async run(ctx, a) {
    return inspectEach(ctx, a, (name) => ctx.client.volumes.inspect(name));
  },
};

const removeCommand: Command = {
  name: 'rm',
  aliases: ['remove'],
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  description: 'Remove one or more volumes',
  minArgs: 1,
  flags: [{ name: 'force', short: 'f', type: 'bool', description: 'Force the removal of one or more volumes' }],
  async run(ctx, a) {
    let rc = 0;
    for (const name of a.args) {
      try {
        await ctx.client.volumes.remove(name, { force: a.bool('force') });
        ctx.out(`${name}\n`);
      } catch (err) {
        if (!(err instanceof EngineError) || err.code === 'UNREACHABLE') throw err;
        ctx.err(`${describeError(err)}\n`);
        rc = 1;
      }
    }
    return rc;
  },
};

const pruneCommand: Command = {
  name: 'prune',
  usage: '[OPTIONS]',
  description: 'Remove unused local volumes',
  maxArgs: 0,
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused volumes, not just anonymous ones' },
    { name: 'filter', type: 'list', valueName: 'filter', description: "Provide filter values (e.g. 'label=<label>')" },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ],
  async run(ctx, a) {
    const filters = parseFilters(a.list('filter'));
    if (a.bool('all')) filters['all'] = ['true'];
    if (!a.bool('force')) {
      const what = a.bool('all') ? 'all local volumes' : 'anonymous local volumes';
      ctx.out(`WARNING! This will remove ${what} not used by at least one container.\nAre you sure you want to continue? [y/N] `);
      const answer = await readLine(ctx.io.stdin, ctx.io.stdout);
      if (answer === undefined) ctx.out('\n');
      if (!/^y(es)?$/i.test((answer ?? '').trim())) return 0;
    }
    const report = await ctx.client.volumes.prune({ filters });
    const deleted = report.VolumesDeleted ?? [];
    if (deleted.length > 0) ctx.out(`Deleted Volumes:\n${deleted.map((n) => `${n}\n`).join('')}\n`);
    ctx.out(`Total reclaimed space: ${humanSize(report.SpaceReclaimed ?? 0)}\n`);
    return 0;
  },
};

export const volumeCommands: Command[] = [createCommand, listCommand, inspectCommand, removeCommand, pruneCommand];
