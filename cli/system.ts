/**
 * System verbs: version, info, system df, events, login.
 */
import { EngineError, isAbortError } from '../client/index.js';
import type { EventMessage, SystemDf, SystemInfo, SystemVersion } from '../types/engine-api.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { parseFilters, readAll, readLine } from './command.js';
import { compileTemplate, formatG, goJson, humanSize, renderRows, rfc3339NanoLocal, sortKeys } from './format.js';

export const CLI_VERSION = '0.1.0';

function goArch(arch: string): string {
  return arch === 'x64' ? 'amd64' : arch === 'ia32' ? '386' : arch;
}

/** Binary size like docker's units.BytesSize: "15.53GiB". */
export function binarySize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];
  let size = bytes;
  let i = 0;
  while (size >= 1024 && i < units.length - 1) {
    size /= 1024;
    i++;
  }
  return `${formatG(size, 4)}${units[i]}`;
}

/** "key: value" lines with values aligned, indented by `indent` spaces. */
function kv(pairs: [string, string | undefined][], indent: number, width: number): string {
  return pairs
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${' '.repeat(indent)}${`${k}:`.padEnd(width)}${v}\n`)
    .join('');
}

// ---------------------------------------------------------------------------
// version

export interface VersionReport {
  Client: { Version: string; ApiVersion: string; NodeVersion: string; Os: string; Arch: string };
  Server?: SystemVersion;
}

export function formatVersion(report: VersionReport): string {
  const c = report.Client;
  let out = 'Client: Berth\n';
  out += kv(
    [
      ['Version', c.Version],
      ['API version', c.ApiVersion],
      ['Node.js version', c.NodeVersion],
      ['OS/Arch', `${c.Os}/${c.Arch}`],
    ],
    1,
    19,
  );
  const s = report.Server;
  if (!s) return out;
  out += `\nServer: ${s.Platform?.Name || 'Berth Engine'}\n`;
  out += ' Engine:\n';
  out += kv(
    [
      ['Version', s.Version],
      ['API version', `${s.ApiVersion}${s.MinAPIVersion ? ` (minimum version ${s.MinAPIVersion})` : ''}`],
      ['Go version', s.GoVersion],
      ['Git commit', s.GitCommit],
      ['Built', s.BuildTime],
      ['OS/Arch', `${s.Os}/${s.Arch}`],
      ['Kernel version', s.KernelVersion],
      ['Experimental', String(s.Experimental ?? false)],
    ],
    2,
    18,
  );
  for (const comp of s.Components ?? []) {
    if (comp.Name === 'Engine') continue;
    out += ` ${comp.Name}:\n`;
    out += kv([['Version', comp.Version], ...Object.entries(comp.Details ?? {}).map(([k, v]) => [k, v] as [string, string])], 2, 18);
  }
  return out;
}

export const versionCommand: Command = {
  name: 'version',
  usage: '[OPTIONS]',
  description: 'Show the Berth version information',
  maxArgs: 0,
  flags: [{ name: 'format', short: 'f', type: 'string', description: "Format output using a custom template ('json' or a Go template)" }],
  async run(ctx, a) {
    const report: VersionReport = {
      Client: {
        Version: CLI_VERSION,
        ApiVersion: ctx.client.apiVersion,
        NodeVersion: process.version,
        Os: process.platform,
        Arch: goArch(process.arch),
      },
    };
    let failure: unknown;
    try {
      report.Server = await ctx.client.version();
    } catch (err) {
      failure = err;
    }
    const format = a.string('format');
    if (format === 'json') ctx.out(`${goJson(report)}\n`);
    else if (format) ctx.out(`${compileTemplate(format).render(report)}\n`);
    else ctx.out(formatVersion(report));
    if (failure !== undefined) throw failure;
    return 0;
  },
};

// ---------------------------------------------------------------------------
// info

export function formatInfo(info: SystemInfo, clientVersion: string): { out: string; warnings: string } {
  let out = 'Client:\n';
  out += ` Version:    ${clientVersion}\n`;
  out += ' Context:    default\n';
  out += ' Debug Mode: false\n';
  out += '\nServer:\n';
  out += ` Containers: ${info.Containers ?? 0}\n`;
  out += `  Running: ${info.ContainersRunning ?? 0}\n`;
  out += `  Paused: ${info.ContainersPaused ?? 0}\n`;
  out += `  Stopped: ${info.ContainersStopped ?? 0}\n`;
  out += ` Images: ${info.Images ?? 0}\n`;
  const line = (k: string, v: string | number | boolean | undefined, indent = 1): void => {
    if (v === undefined || v === '') return;
    out += `${' '.repeat(indent)}${k}: ${v}\n`;
  };
  line('Server Version', info.ServerVersion);
  line('Storage Driver', info.Driver);
  for (const [k, v] of info.DriverStatus ?? []) line(k, v, 2);
  line('Logging Driver', info.LoggingDriver);
  line('Cgroup Driver', info.CgroupDriver);
  line('Cgroup Version', info.CgroupVersion);
  if (info.Runtimes && Object.keys(info.Runtimes).length > 0) line('Runtimes', Object.keys(info.Runtimes).sort().join(' '));
  line('Default Runtime', info.DefaultRuntime);
  line('Kernel Version', info.KernelVersion);
  line('Operating System', info.OperatingSystem);
  line('OSType', info.OSType);
  line('Architecture', info.Architecture);
  line('CPUs', info.NCPU);
  if (info.MemTotal !== undefined) line('Total Memory', binarySize(info.MemTotal));
  line('Name', info.Name);
  line('ID', info.ID);
  line('Docker Root Dir', info.DockerRootDir);
  line('Debug Mode', info.Debug);
  if (info.HttpProxy) line('HTTP Proxy', info.HttpProxy);
  if (info.HttpsProxy) line('HTTPS Proxy', info.HttpsProxy);
  if (info.NoProxy) line('No Proxy', info.NoProxy);
  line('Experimental', info.ExperimentalBuild ?? false);
  const insecure = info.RegistryConfig?.InsecureRegistryCIDRs ?? [];
  const insecureNames = Object.values(info.RegistryConfig?.IndexConfigs ?? {})
    .filter((c) => !c.Secure)
    .map((c) => c.Name);
  if (insecure.length + insecureNames.length > 0) {
    out += ' Insecure Registries:\n';
    for (const r of [...insecureNames, ...insecure]) out += `  ${r}\n`;
  }
  const mirrors = info.RegistryConfig?.Mirrors ?? [];
  if (mirrors.length > 0) {
    out += ' Registry Mirrors:\n';
    for (const m of mirrors) out += `  ${m}\n`;
  }
  line('Live Restore Enabled', info.LiveRestoreEnabled ?? false);
  const warnings = (info.Warnings ?? []).map((w) => `${w}\n`).join('');
  return { out, warnings };
}

export const infoCommand: Command = {
  name: 'info',
  usage: '[OPTIONS]',
  description: 'Display system-wide information',
  maxArgs: 0,
  flags: [{ name: 'format', short: 'f', type: 'string', description: "Format output using a custom template ('json' or a Go template)" }],
  async run(ctx, a) {
    const info = await ctx.client.info();
    const format = a.string('format');
    if (format === 'json') {
      ctx.out(`${goJson(info)}\n`);
      return 0;
    }
    if (format) {
      ctx.out(`${compileTemplate(format).render(info)}\n`);
      return 0;
    }
    const { out, warnings } = formatInfo(info, CLI_VERSION);
    ctx.out(out);
    if (warnings) ctx.err(`\n${warnings}`);
    return 0;
  },
};

// ---------------------------------------------------------------------------
// system df

export function diskUsageRows(df: SystemDf): Record<string, string>[] {
  const reclaim = (reclaimable: number, total: number): string =>
    total > 0 ? `${humanSize(reclaimable)} (${Math.floor((reclaimable * 100) / total)}%)` : humanSize(reclaimable);

  const images = df.Images ?? [];
  const activeImages = images.filter((i) => i.Containers > 0);
  let usedByContainers = 0;
  for (const i of activeImages) {
    if (i.Size !== -1 && i.SharedSize !== -1) usedByContainers += i.Size - i.SharedSize;
  }
  const layers = df.LayersSize ?? 0;

  const containers = df.Containers ?? [];
  // As the docker CLI counts: paused and restarting containers are active too.
  const active = (c: (typeof containers)[number]): boolean => c.State === 'running' || c.State === 'paused' || c.State === 'restarting';
  const containersSize = containers.reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  const containersIdle = containers.filter((c) => !active(c)).reduce((n, c) => n + (c.SizeRw ?? 0), 0);

  const volumes = df.Volumes ?? [];
  const volumeSize = (v: (typeof volumes)[number]): number => Math.max(0, v.UsageData?.Size ?? 0);
  const volumesSize = volumes.reduce((n, v) => n + volumeSize(v), 0);
  const volumesIdle = volumes.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce((n, v) => n + volumeSize(v), 0);

  const cache = df.BuildCache ?? [];
  const cacheSize = cache.filter((b) => !b.Shared).reduce((n, b) => n + b.Size, 0);
  const cacheIdle = cache.filter((b) => !b.InUse && !b.Shared).reduce((n, b) => n + b.Size, 0);

  return [
    {
      Type: 'Images',
      TotalCount: String(images.length),
      Active: String(activeImages.length),
      Size: humanSize(layers),
      Reclaimable: reclaim(layers - usedByContainers, layers),
    },
    {
      Type: 'Containers',
      TotalCount: String(containers.length),
      Active: String(containers.filter(active).length),
      Size: humanSize(containersSize),
      Reclaimable: reclaim(containersIdle, containersSize),
    },
    {
      Type: 'Local Volumes',
      TotalCount: String(volumes.length),
      Active: String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length),
      Size: humanSize(volumesSize),
      Reclaimable: reclaim(volumesIdle, volumesSize),
    },
    {
      Type: 'Build Cache',
      TotalCount: String(cache.length),
      Active: String(cache.filter((b) => b.InUse).length),
      Size: humanSize(cacheSize),
      Reclaimable: humanSize(cacheIdle),
    },
  ];
}

export const dfCommand: Command = {
  name: 'df',
  usage: '[OPTIONS]',
  description: 'Show engine disk usage',
  maxArgs: 0,
  flags: [{ name: 'format', type: 'string', description: "Format output using a custom template ('table', 'json' or a Go template)" }],
  async run(ctx, a) {
    const rows = diskUsageRows(await ctx.client.systemDf());
    const format = a.string('format');
    if (format === 'json') {
      for (const r of rows) ctx.out(`${goJson(sortKeys(r))}\n`);
      return 0;
    }
    const tpl = compileTemplate(
      !format || format === 'table' ? 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}' : format,
    );
    ctx.out(renderRows(tpl, rows, { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' }));
    return 0;
  },
};

// ---------------------------------------------------------------------------
// events

/** An event as JSON with docker's field order (legacy fields first, attributes sorted). */
export function eventJson(e: EventMessage): string {
  const o: Record<string, unknown> = {};
  if (e.status) o['status'] = e.status;
  if (e.id) o['id'] = e.id;
  if (e.from) o['from'] = e.from;
  o['Type'] = e.Type;
  o['Action'] = e.Action;
  o['Actor'] = { ID: e.Actor?.ID ?? '', Attributes: sortKeys(e.Actor?.Attributes ?? {}) };
  o['scope'] = e.scope;
  o['time'] = e.time;
  o['timeNano'] = e.timeNano;
  return goJson(o);
}

/** docker's default event line: "<time> <type> <action> <id> (k=v, ...)". */
export function formatEvent(e: EventMessage): string {
  // timeNano exceeds 2^53: take the sub-second digits from its shortest
  // decimal form (what the engine sent, when it sent a rounded number).
  const digits = e.timeNano !== undefined ? String(e.timeNano) : '';
  const exact = /^\d{10,}$/.test(digits);
  const seconds = e.time ?? (exact ? Number(digits.slice(0, -9)) : 0);
  const nanos = exact ? Number(digits.slice(-9)) : 0;
  const attrs = Object.entries(e.Actor?.Attributes ?? {})
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  const id = e.Actor?.ID ?? e.id ?? '';
  return `${rfc3339NanoLocal(seconds, nanos)} ${e.Type} ${e.Action ?? e.status ?? ''} ${id}${attrs.length > 0 ? ` (${attrs.join(', ')})` : ''}`;
}

export const eventsCommand: Command = {
  name: 'events',
  usage: '[OPTIONS]',
  description: 'Get real time events from the engine',
  maxArgs: 0,
  flags: [
    { name: 'filter', short: 'f', type: 'list', valueName: 'filter', description: 'Filter output based on conditions provided' },
    { name: 'format', type: 'string', description: "Format output using a custom template ('json' or a Go template)" },
    { name: 'since', type: 'string', description: 'Show all events created since timestamp' },
    { name: 'until', type: 'string', description: 'Stream events until this timestamp' },
  ],
  async run(ctx, a) {
    const controller = new AbortController();
    const onSignal = (): void => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const format = a.string('format');
    const tpl = format && format !== 'json' ? compileTemplate(format) : undefined;
    const since = a.string('since');
    const until = a.string('until');
    try {
      for await (const e of ctx.client.events({
        filters: parseFilters(a.list('filter')),
        signal: controller.signal,
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
      })) {
        if (format === 'json') ctx.out(`${eventJson(e)}\n`);
        else if (tpl) ctx.out(`${tpl.render(e)}\n`);
        else ctx.out(`${formatEvent(e)}\n`);
      }
    } catch (err) {
      if (!isAbortError(err) && !controller.signal.aborted) throw err;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return 0;
  },
};

// ---------------------------------------------------------------------------
// login

const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';

export function loginServer(arg: string | undefined): string {
  if (!arg) return DOCKER_HUB_SERVER;
  const host = arg.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (host === 'docker.io' || host === 'index.docker.io' || host === 'registry-1.docker.io') return DOCKER_HUB_SERVER;
  return arg;
}

export const loginCommand: Command = {
  name: 'login',
  usage: '[OPTIONS] [SERVER]',
  description: 'Check credentials with a registry (default: Docker Hub)',
  maxArgs: 1,
  notes:
    'Berth does not store credentials yet: login only checks them with the registry through the engine.\nPulls of private images are not yet authenticated from the CLI.',
  flags: [
    { name: 'password', short: 'p', type: 'string', description: 'Password or Personal Access Token (PAT)' },
    { name: 'password-stdin', type: 'bool', description: 'Take the Password or Personal Access Token (PAT) from stdin' },
    { name: 'username', short: 'u', type: 'string', description: 'Username' },
  ],
  async run(ctx, a) {
    let username = a.string('username');
    let password = a.string('password');
    if (password !== undefined && a.bool('password-stdin')) {
      throw new UsageError('--password and --password-stdin are mutually exclusive');
    }
    if (password !== undefined) ctx.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    if (a.bool('password-stdin')) {
      if (!username) throw new UsageError('Must provide --username with --password-stdin');
      password = (await readAll(ctx.io.stdin)).replace(/[\r\n]+$/, '');
    }
    const server = loginServer(a.args[0]);
    if (!username || password === undefined) {
      if (!ctx.io.stdin.isTTY) {
        throw new EngineError('Cannot perform an interactive login from a non TTY device', 0, 'INVALID');
      }
      if (!username) {
        ctx.out('Username: ');
        username = (await readLine(ctx.io.stdin, ctx.io.stdout))?.trim();
        if (!username) throw new EngineError('Username is required', 0, 'INVALID');
      }
      if (password === undefined) {
        ctx.out('Password: ');
        password = await readLine(ctx.io.stdin, ctx.io.stdout, { hidden: true });
      }
    }
    if (!password) throw new EngineError('Password is required', 0, 'INVALID');
    const res = await ctx.client.auth({ username, password, serveraddress: server });
    ctx.out(`${res?.Status || 'Login Succeeded'}\n`);
    ctx.err('Note: berth does not store credentials yet; they were only verified with the registry.\n');
    return 0;
  },
};

export const systemCommands: Command[] = [dfCommand, infoCommand, eventsCommand];
