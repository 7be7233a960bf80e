/**
 * `ps` / `container ls`: container summaries as docker's table or a --format
 * template, with docker's column rules (12-char IDs, quoted commands cut at 20
 * characters, "0.0.0.0:8080->80/tcp" ports, names without the leading slash).
 */
import type { ContainerSummary, Port } from '../types/engine-api.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { parseFilters } from './command.js';
import { ellipsis, goTimeString, humanSize, printRows, shortId, timeAgo } from './format.js';

export const CONTAINER_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
  LocalVolumes: 'LOCAL VOLUMES',
};

function formatPort(p: Port): string {
  if (p.PublicPort === undefined || p.PublicPort === 0) return `${p.PrivatePort}/${p.Type}`;
  const ip = p.IP ?? '';
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return `${host ? `${host}:` : ''}${p.PublicPort}->${p.PrivatePort}/${p.Type}`;
}

function displayImage(image: string, noTrunc: boolean): string {
  if (noTrunc) return image;
  if (/^sha256:[0-9a-f]{64}$/.test(image)) return shortId(image);
  const at = image.indexOf('@sha256:');
  return at > 0 ? image.slice(0, at) : image;
}

/** One row per container, each field formatted as docker's ps does. */
export function containerRows(list: readonly ContainerSummary[], opts: { noTrunc?: boolean; now?: number } = {}): Record<string, string>[] {
  const noTrunc = opts.noTrunc ?? false;
  const now = opts.now ?? Date.now();
  return list.map((c) => {
    const names = (c.Names ?? []).map((n) => n.replace(/^\//, '')).filter((n) => noTrunc || !n.includes('/'));
    const mounts = (c.Mounts ?? []).map((m) => {
      const name = m.Name || m.Source;
      return noTrunc ? name : ellipsis(name, 15);
    });
    const labels = Object.entries(c.Labels ?? {})
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`);
    const rw = humanSize(c.SizeRw ?? 0, 3);
    return {
      ID: noTrunc ? c.Id : shortId(c.Id),
      Image: displayImage(c.Image, noTrunc),
      Command: JSON.stringify(noTrunc ? c.Command : ellipsis(c.Command, 20)),
      CreatedAt: c.Created > 0 ? goTimeString(new Date(c.Created * 1000)) : '',
      RunningFor: timeAgo(c.Created, now),
      Ports: (c.Ports ?? []).map(formatPort).join(', '),
      State: c.State,
      Status: c.Status,
      Size: (c.SizeRootFs ?? 0) > 0 ? `${rw} (virtual ${humanSize(c.SizeRootFs ?? 0, 3)})` : rw,
      Names: names.join(','),
      Labels: labels.join(','),
      Mounts: mounts.join(','),
      Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).sort().join(','),
      LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Driver === 'local').length),
    };
  });
}

export const psCommand: Command = {
  name: 'ls',
  aliases: ['list', 'ps'],
  usage: '[OPTIONS]',
  description: 'List containers',
  maxArgs: 0,
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Show all containers (default shows just running)' },
    { name: 'filter', short: 'f', type: 'list', valueName: 'filter', description: 'Filter output based on conditions provided' },
    {
      name: 'format',
      type: 'string',
      description:
        "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template",
    },
    { name: 'last', short: 'n', type: 'string', valueName: 'int', description: 'Show n last created containers (includes all states)', defaultValue: '-1' },
    { name: 'latest', short: 'l', type: 'bool', description: 'Show the latest created container (includes all states)' },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display container IDs' },
    { name: 'size', short: 's', type: 'bool', description: 'Display total file sizes' },
  ],
  async run(ctx, a) {
    let last = Number(a.string('last') ?? '-1');
    if (!Number.isInteger(last)) throw new UsageError(`invalid argument "${a.string('last')}" for "-n, --last" flag`);
    if (a.bool('latest') && last === -1) last = 1;
    const format = a.string('format');
    const size = a.bool('size') || (format !== undefined && format.includes('.Size'));
    const list = await ctx.client.containers.list({
      all: a.bool('all'),
      ...(last > 0 ? { limit: last } : {}),
      size: size && !a.bool('quiet'),
      filters: parseFilters(a.list('filter')),
    });
    const rows = containerRows(list ?? [], { noTrunc: a.bool('no-trunc') });
    if (a.bool('quiet')) {
      for (const r of rows) ctx.out(`${r['ID']}\n`);
      return 0;
    }
    const table = `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${a.bool('size') ? '\t{{.Size}}' : ''}`;
    printRows(ctx, rows, format, table, CONTAINER_HEADERS);
    return 0;
  },
};

/** `berth ps` (top level) is `container ls`. */
export const psTopLevel: Command = { ...psCommand, name: 'ps', aliases: [] };
