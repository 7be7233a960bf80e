/**
 * `berth`: a docker-like command line for the Berth engine. Parses the global
 * flags, finds the verb, parses its flags, runs it and maps failures to exit
 * statuses like docker: 0 ok, 1 error ("Error response from daemon: ..." on
 * stderr), 125 bad usage (unknown verb or flag, wrong argument count).
 */
import { DEFAULT_API_VERSION, DEFAULT_HOST, EngineClient, EngineError } from '../client/index.js';
import type { FlagSpec } from './args.js';
import { HELP_FLAG, UsageError, formatFlagHelp, parseArgs } from './args.js';
import type { CliIo, Command, CommandGroup, Context } from './command.js';
import { TemplateError, describeError } from './format.js';
import {
  containerInspectCommand,
  containerPruneCommand,
  inspectAnyCommand,
  killCommand,
  pauseCommand,
  renameCommand,
  restartCommand,
  rmCommand,
  stopCommand,
  topCommand,
  unpauseCommand,
  updateCommand,
  waitCommand,
} from './containers.js';
import { cpCommand } from './cp.js';
import { desktopCommand } from './desktop.js';
import { execCommand } from './exec.js';
import { commitCommand, imageCommands, imageShortcuts } from './images.js';
import { buildCommand, builderCommands, diffCommand, exportCommand } from './build.js';
import { logsCommand } from './logs.js';
import { networkCommands, portCommand } from './networks.js';
import { psCommand, psTopLevel } from './ps.js';
import { attachCommand, createCommand, runCommand, startCommand } from './run.js';
import { CLI_VERSION, eventsCommand, infoCommand, loginCommand, systemCommands, versionCommand } from './system.js';
import { volumeCommands } from './volumes.js';
import { contextCommands, resolveEngine } from './context.js';
import type { ResolvedEngine } from './context.js';
import { vmCommands } from './vm.js';
import type { TlsSettingsInput } from '../client/index.js';

const PROG = 'berth';

const GLOBAL_FLAGS: FlagSpec[] = [
  {
    name: 'host',
    short: 'H',
    type: 'string',
    valueName: 'string',
    description: `Engine address to connect to (default: $BERTH_HOST, $DOCKER_HOST or ${DEFAULT_HOST})`,
  },
  {
    name: 'context',
    short: 'c',
    type: 'string',
    valueName: 'string',
    description: 'Name of the context to use (overrides BERTH_HOST/DOCKER_HOST and the current context; see `berth context`)',
  },
  { name: 'tls', type: 'bool', description: 'Use TLS; implied by --tlsverify' },
  { name: 'tlsverify', type: 'bool', description: 'Use TLS and verify the remote (default: $DOCKER_TLS_VERIFY)' },
  { name: 'tlscacert', type: 'string', valueName: 'string', description: 'Trust certs signed only by this CA (default: $DOCKER_CERT_PATH/ca.pem, ~/.docker/ca.pem)' },
  { name: 'tlscert', type: 'string', valueName: 'string', description: 'Path to TLS certificate file (default: $DOCKER_CERT_PATH/cert.pem)' },
  { name: 'tlskey', type: 'string', valueName: 'string', description: 'Path to TLS key file (default: $DOCKER_CERT_PATH/key.pem)' },
  { name: 'help', short: 'h', type: 'bool', description: 'Print usage' },
  { name: 'version', short: 'v', type: 'bool', description: 'Print version information and quit' },
  { name: 'debug', short: 'D', type: 'bool', description: 'Enable debug mode', hidden: true },
  { name: 'log-level', short: 'l', type: 'string', description: 'Set the logging level', hidden: true },
];

/** The container verbs, under `container` and (all but prune) at the top level. */
const CONTAINER_VERBS: Command[] = [
  runCommand,
  execCommand,
  createCommand,
  startCommand,
  stopCommand,
  restartCommand,
  killCommand,
  rmCommand,
  logsCommand,
  attachCommand,
  cpCommand,
  waitCommand,
  topCommand,
  renameCommand,
  pauseCommand,
  unpauseCommand,
  updateCommand,
  portCommand,
  diffCommand,
  exportCommand,
];

/** Verbs available at the top level. */
const TOP_LEVEL: Command[] = [
  psTopLevel,
  ...CONTAINER_VERBS,
  ...imageShortcuts,
  buildCommand,
  inspectAnyCommand,
  versionCommand,
  infoCommand,
  eventsCommand,
  loginCommand,
  desktopCommand,
];

const GROUPS: CommandGroup[] = [
  {
    name: 'container',
    description: 'Manage containers',
    commands: [psCommand, ...CONTAINER_VERBS, commitCommand, containerInspectCommand, containerPruneCommand],
  },
  { name: 'image', description: 'Manage images', commands: imageCommands },
  { name: 'volume', description: 'Manage volumes', commands: volumeCommands },
  { name: 'network', description: 'Manage networks', commands: networkCommands },
  { name: 'builder', description: 'Manage builds', commands: builderCommands },
  { name: 'system', description: 'Manage Berth', commands: systemCommands },
  { name: 'context', description: 'Manage contexts (the engines berth and Berth Desktop talk to)', commands: contextCommands },
  { name: 'vm', description: 'Manage the Berth VM (the Linux engine for macOS and Windows)', commands: vmCommands },
];

function findCommand(commands: Command[], name: string): Command | undefined {
  return commands.find((c) => c.name === name || (c.aliases ?? []).includes(name));
}

function mainHelp(): string {
  const line = (name: string, desc: string): string => `  ${name.padEnd(11)} ${desc}\n`;
  let out = `\nUsage:  ${PROG} [OPTIONS] COMMAND\n\nA Docker-compatible command line for the Berth container engine\n\nCommon Commands:\n`;
  for (const c of TOP_LEVEL) out += line(c.name, c.description);
  out += '\nManagement Commands:\n';
  for (const g of GROUPS) out += line(g.name, g.description);
  out += `\nGlobal Options:\n${formatFlagHelp(GLOBAL_FLAGS)}\n`;
  out += `\nRun '${PROG} COMMAND --help' for more information on a command.\n`;
  return out;
}

function groupHelp(g: CommandGroup): string {
  let out = `\nUsage:  ${PROG} ${g.name} COMMAND\n\n${g.description}\n\nCommands:\n`;
  for (const c of g.commands) out += `  ${c.name.padEnd(11)} ${c.description}\n`;
  out += `\nRun '${PROG} ${g.name} COMMAND --help' for more information on a command.\n`;
  return out;
}

function usageLine(path: string, cmd: Command): string {
  return `Usage:  ${PROG} ${path} ${cmd.usage}`.trimEnd();
}

/** The command's flags plus --help (without -h when the command uses it, as `run -h HOSTNAME` does). */
function withHelp(flags: readonly FlagSpec[]): FlagSpec[] {
  const help = flags.some((f) => f.short === 'h') ? { name: HELP_FLAG.name, type: HELP_FLAG.type, description: HELP_FLAG.description } : HELP_FLAG;
  return [...flags, help];
}

function commandHelp(path: string, cmd: Command, aliases: string[]): string {
  let out = `\n${usageLine(path, cmd)}\n\n${cmd.description}\n`;
  if (aliases.length > 0) out += `\nAliases:\n  ${aliases.join(', ')}\n`;
  const flags = withHelp(cmd.flags);
  out += `\nOptions:\n${formatFlagHelp(flags)}\n`;
  if (cmd.notes) out += `\n${cmd.notes}\n`;
  return out;
}

function aliasesOf(path: string, cmd: Command): string[] {
  const parts = path.split(' ');
  const names = [cmd.name, ...(cmd.aliases ?? [])];
  if (parts.length < 2) return [];
  const prefix = parts.slice(0, -1).join(' ');
  return names.map((n) => `${PROG} ${prefix} ${n}`);
}

function checkArgCount(path: string, cmd: Command, count: number): void {
  const { minArgs = 0, maxArgs } = cmd;
  const plural = (n: number): string => `${n} argument${n === 1 ? '' : 's'}`;
  const what = `${PROG}: '${PROG} ${path}'`;
  if (maxArgs === 0 && count > 0) throw new UsageError(`${what} accepts no arguments`);
  if (minArgs === maxArgs && count !== minArgs) throw new UsageError(`${what} requires ${plural(minArgs)}`);
  if (count < minArgs) throw new UsageError(`${what} requires at least ${plural(minArgs)}`);
  if (maxArgs !== undefined && count > maxArgs) throw new UsageError(`${what} requires at most ${plural(maxArgs)}`);
}

/** The process's own streams and environment. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}

/**
 * Run the CLI with `argv` (without node and script), returning the exit
 * status. Never throws for expected failures.
 */
export async function run(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const out = (text: string): void => {
    if (text) io.stdout.write(text);
  };
  const err = (text: string): void => {
    if (text) io.stderr.write(text);
  };
  let helpPath = '';
  let usage = '';
  let client: EngineClient | undefined;
  let resolved: ResolvedEngine | undefined;
  try {
    const globals = parseArgs(argv, GLOBAL_FLAGS, { interspersed: false });
    if (globals.bool('version')) {
      out(`Berth version ${CLI_VERSION} (Engine API ${DEFAULT_API_VERSION})\n`);
      return 0;
    }
    const [verb, ...rest] = globals.args;
    if (globals.bool('help') || verb === undefined || verb === 'help') {
      out(mainHelp());
      return 0;
    }

    let path = verb;
    let cmd: Command | undefined;
    let cmdArgs = rest;
    const group = GROUPS.find((g) => g.name === verb);
    if (group) {
      const [sub, ...subRest] = rest;
      if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
        out(groupHelp(group));
        return 0;
      }
      cmd = findCommand(group.commands, sub);
      if (!cmd) {
        helpPath = group.name;
        usage = `Usage:  ${PROG} ${group.name} COMMAND`;
        throw new UsageError(`${PROG}: unknown command: ${PROG} ${group.name} ${sub}`);
      }
      path = `${group.name} ${sub}`;
      cmdArgs = subRest;
    } else {
      cmd = findCommand(TOP_LEVEL, verb);
      if (!cmd) throw new UsageError(`${PROG}: unknown command: ${PROG} ${verb}`);
    }
    helpPath = path;
    usage = usageLine(path, cmd);

    const parsed = parseArgs(cmdArgs, withHelp(cmd.flags), { interspersed: !cmd.stopAtFirstArg });
    if (parsed.bool('help')) {
      out(commandHelp(path, cmd, aliasesOf(path, cmd)));
      return 0;
    }
    checkArgCount(path, cmd, parsed.args.length);

    const hostFlag = globals.string('host');
    const tlsFlags: TlsSettingsInput = {
      ...(globals.has('tls') ? { tls: globals.bool('tls') } : {}),
      ...(globals.has('tlsverify') ? { tlsVerify: globals.bool('tlsverify') } : {}),
      ...(globals.string('tlscacert') ? { caFile: globals.string('tlscacert') } : {}),
      ...(globals.string('tlscert') ? { certFile: globals.string('tlscert') } : {}),
      ...(globals.string('tlskey') ? { keyFile: globals.string('tlskey') } : {}),
    };
    if (cmd.noEngine) {
      client = new EngineClient({ host: hostFlag || io.env['BERTH_HOST'] || io.env['DOCKER_HOST'] || DEFAULT_HOST });
    } else {
      resolved = await resolveEngine(io, hostFlag, globals.string('context'), tlsFlags);
      client = resolved.client;
    }
    const ctx: Context = { io, host: client.host, client, prog: PROG, out, err };
    const rc = await cmd.run(ctx, parsed);
    return rc ?? 0;
  } catch (e) {
    if (e instanceof UsageError) {
      // docker's layout: the problem, the usage line, where to get help.
      let text = `${e.message}\n`;
      if (usage) text += `\n${usage}\n`;
      text += `\nRun '${PROG} ${helpPath ? `${helpPath} ` : ''}--help' for more information\n`;
      err(text);
      return 125;
    }
    if (e instanceof TemplateError) {
      err(`${e.message}\n`);
      return 1;
    }
    if (e instanceof EngineError) {
      err(`${describeError(e)}\n`);
      return 1;
    }
    if ((e as NodeJS.ErrnoException | null)?.code === 'EPIPE') return 0;
    err(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    client?.close();
    await resolved?.link.close();
  }
}

/** Entry point for bin/berth: run with the process's argv and set the exit status. */
export async function main(): Promise<void> {
  // `berth images | head -1`: a closed pipe is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  process.exitCode = await run(process.argv.slice(2));
}
